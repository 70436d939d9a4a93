from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from accepted.service.jobs import JobService
from accepted.service.maintenance import Maintenance
from accepted.service.signals import Signals
from accepted.store.sqlite import SqliteStore

T0 = 1_700_000_000.0


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[JobService]:
    """The job service on a real SQLite file; tests pass `now` themselves (a fake clock)."""
    store = SqliteStore(str(tmp_path / "unit.db"))
    await store.open()
    try:
        yield JobService(store, Signals(), default_lease=30.0, max_attempts=3)
    finally:
        await store.close()


@pytest.fixture
def maintenance(service: JobService) -> Maintenance:
    return Maintenance(service, callback_retries=3)
