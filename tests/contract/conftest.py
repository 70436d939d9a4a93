"""The store contract tier: every test runs against each backend's `JobStore`.

The suite is the definition of correct storage; a backend is correct when it
passes unchanged. Stores are opened in the test's event loop and closed
before their database is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from accepted.store import JobStore, open_store
from tests.support.databases import BACKENDS, database

OpenStore = Callable[[], Awaitable[JobStore]]


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each backend, as a --db target."""
    with database(str(request.param), tmp_path) as db:
        yield db


@pytest.fixture
def is_shared(target: str) -> bool:
    """Whether several stores (nodes) may open this target at once."""
    return target.startswith("postgresql://")


@pytest.fixture
async def open_new_store(target: str) -> AsyncIterator[OpenStore]:
    """Opens another store on the same database; all are closed after the test."""
    opened: list[JobStore] = []

    async def open_one() -> JobStore:
        store = open_store(target, pool_size=4)
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_new_store: OpenStore) -> JobStore:
    return await open_new_store()
