"""Fixtures of the browser tier: a real server per module and backend, and a
fresh browser page per test that fails the test on any uncaught script error.

The tests drive the dashboard as a person does (click, type, read) and check
what it did through the API, never through a back door.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.support import LAPTOP, chromium
from tests.http.helpers import enqueue, take
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess

# How long the page may take to show what a test waits for: generous for a
# loaded 2-core machine; a live update arrives in milliseconds when all is well.
SHOW_WITHIN = 10_000  # ms

expect.set_options(timeout=SHOW_WITHIN)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module", params=BACKENDS)
def dashboard_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for a module; each test works in queues of its own."""
    tmp = tmp_path_factory.mktemp("browser")
    with database(str(request.param), tmp) as target:
        proc = ServerProcess(db=target, log_path=tmp / "server.log").start()
        try:
            yield proc
        finally:
            proc.stop()
        log = (tmp / "server.log").read_text()
        assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]


@pytest.fixture
def api(dashboard_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_server.url, timeout=30.0) as client:
        yield client


def open_page(browser: Browser, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(SHOW_WITHIN)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A laptop-sized page in a fresh context (no token, no storage left over)."""
    page, errors = open_page(browser, LAPTOP)
    try:
        yield page
    finally:
        page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def url(dashboard_server: ServerProcess) -> str:
    return dashboard_server.url


def failed_job(api: httpx.Client, queue: str, params: object) -> dict[str, object]:
    """A job that a worker took and reported failed (no retries left)."""
    job = enqueue(api, queue, params)
    assert take(api, queue) is not None
    response = api.put(f"/jobs/{job['id']}", json={"status": "failed", "result": {"error": "boom"}})
    assert response.status_code == 200, response.text
    failed: dict[str, object] = response.json()
    assert failed["status"] == "failed"
    return failed
