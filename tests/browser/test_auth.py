"""With auth on, the dashboard asks for a token and keeps it in the browser;
a reader's token sees everything and can change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import failed_job
from tests.http.helpers import unique_queue
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess

ADMIN = "admin-secret-for-the-browser-tests"


@pytest.fixture(scope="module", params=BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with auth on and a first admin token."""
    tmp = tmp_path_factory.mktemp("auth")
    with database(str(request.param), tmp) as target:
        proc = ServerProcess(
            db=target,
            log_path=tmp / "server.log",
            env={"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN},
        ).start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture
def admin(auth_server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=auth_server.url, headers=headers, timeout=30.0) as client:
        yield client


def token_for(admin: httpx.Client, role: str) -> str:
    response = admin.post("/tokens", json={"name": unique_queue(role), "role": role})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(url)
    dialog = page.locator("dialog.token")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Token").fill(token)
    dialog.get_by_role("button", name="Use token").click()
    expect(dialog).to_have_count(0)


def test_a_reader_sees_everything_and_can_change_nothing(
    page: Page, admin: httpx.Client, auth_server: ServerProcess
) -> None:
    queue = unique_queue("reader")
    job = failed_job(admin, queue, {"secret": "visible to readers"})
    sign_in(page, f"{auth_server.url}/ui#/queues", token_for(admin, "reader"))
    expect(page.locator("#read-only")).to_be_visible()
    row = page.locator(f'tr[data-queue="{queue}"]')
    expect(row.locator("td.c-failed")).to_have_text("1")
    expect(row.locator("button")).to_have_count(0)  # no pause

    page.goto(f"{auth_server.url}/ui#/jobs/{job['id']}")
    expect(page.locator("pre.json").first).to_contain_text("visible to readers")
    for action in ("retry", "cancel", "delete"):
        expect(page.locator(f'button[data-action="{action}"]')).to_be_disabled()

    page.goto(f"{auth_server.url}/ui#/jobs?queue={queue}")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("[data-bulk]")).to_have_count(0)
    assert admin.get(f"/jobs/{job['id']}").json()["status"] == "failed"


def test_the_token_is_kept_in_the_browser_and_an_admin_may_act(
    page: Page, admin: httpx.Client, auth_server: ServerProcess
) -> None:
    job = failed_job(admin, unique_queue("admin"), {"n": 1})
    sign_in(page, f"{auth_server.url}/ui#/jobs/{job['id']}", token_for(admin, "admin"))
    page.reload()  # the token survives a reload: no second prompt
    expect(page.locator("dialog.token")).to_have_count(0)
    expect(page.locator("#read-only")).to_have_count(0)
    page.locator('button[data-action="retry"]').click()
    expect(page.locator("main .title .badge")).to_have_text("queued")


def test_a_reader_sees_the_schedules_without_their_buttons(
    page: Page, admin: httpx.Client, auth_server: ServerProcess
) -> None:
    name = unique_queue("nightly")
    body = {"queue": unique_queue("reports"), "cron": "0 3 * * *"}
    assert admin.put(f"/schedules/{name}", json=body).status_code == 200
    sign_in(page, f"{auth_server.url}/ui#/schedules", token_for(admin, "reader"))
    row = page.locator(f'tr[data-schedule="{name}"]')
    expect(row.locator('td[data-label="when"]')).to_have_text("0 3 * * *")
    expect(row.locator("button")).to_have_count(0)  # no run now, no pause


def test_a_queue_limited_admin_sees_the_schedules_without_their_buttons(
    page: Page, admin: httpx.Client, auth_server: ServerProcess
) -> None:
    name, queue = unique_queue("hourly"), unique_queue("reports")
    assert admin.put(f"/schedules/{name}", json={"queue": queue, "every": 3600}).status_code == 200
    limited = admin.post(
        "/tokens", json={"name": unique_queue("limited"), "role": "admin", "queues": [queue]}
    )
    assert limited.status_code == 201, limited.text
    sign_in(page, f"{auth_server.url}/ui#/schedules", str(limited.json()["token"]))
    row = page.locator(f'tr[data-schedule="{name}"]')
    expect(row.locator('td[data-label="when"]')).to_have_text("every 3600s")
    expect(row.locator("button")).to_have_count(0)  # writing schedules would be 403
    assert admin.get(f"/schedules/{name}").json()["last_run_at"] is None

    page.evaluate("localStorage.clear()")  # the unlimited admin, for contrast
    page.reload()
    sign_in(page, f"{auth_server.url}/ui#/schedules", ADMIN)
    expect(row.locator('button[data-action="run"]')).to_have_text("Run now")


def test_without_a_token_the_page_asks_for_one_before_anything_else(
    page: Page, admin: httpx.Client, auth_server: ServerProcess
) -> None:
    """One 401, from GET /whoami, then the prompt: no 401s from the queues or the
    event stream, no requests sent to find out what the token may do."""
    sent: list[tuple[str, str, int]] = []
    page.on(
        "response",
        lambda r: sent.append((r.request.method, r.url.removeprefix(auth_server.url), r.status)),
    )
    queue = unique_queue("signin")
    failed_job(admin, queue, {"n": 1})
    sign_in(page, f"{auth_server.url}/ui#/queues", token_for(admin, "producer"))
    row = page.locator(f'tr[data-queue="{queue}"]')
    expect(row.locator("td.c-failed")).to_have_text("1")
    expect(row.locator("button")).to_have_count(0)  # a producer may not pause
    expect(page.locator("#read-only")).to_have_count(0)  # but may cancel and delete
    failing = [r for r in sent if r[2] >= 400]
    assert failing == [("GET", "/whoami", 401)], failing
    assert not [r for r in sent if r[0] != "GET"], sent
