"""Every page of the dashboard loads, at laptop and at phone width, without a
script error and without a page wider than the phone."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import open_page
from tests.browser.support import LAPTOP, PHONE
from tests.http.helpers import enqueue, unique_queue


def pages(api: httpx.Client) -> dict[str, str]:
    queue = unique_queue("pages")
    job = enqueue(api, queue, {"to": "ada@example.com"})
    return {
        "queues": "/ui",
        "jobs": "/ui#/jobs",
        "queue": f"/ui#/queues/{queue}",
        "job": f"/ui#/jobs/{job['id']}",
    }


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_page_loads_without_errors_and_fits_the_width(
    browser: Browser, api: httpx.Client, url: str, viewport: dict[str, int]
) -> None:
    page, errors = open_page(browser, viewport)
    try:
        for name, path in pages(api).items():
            page.goto(url + path)
            expect(page.locator("main h1").first).to_be_visible()
            expect(page.locator("main")).not_to_contain_text("Loading…")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than the window"
    finally:
        page.context.close()
    assert not errors, errors


def test_no_page_makes_a_failing_request_with_auth_off(
    page: Page, api: httpx.Client, url: str
) -> None:
    """The page learns what it may do from one GET /whoami, not from requests meant to
    fail (a browser shows each as a console error; /metrics counts each as a 4xx)."""
    sent: list[tuple[str, str, int]] = []
    page.on(
        "response",
        lambda r: sent.append((r.request.method, r.url.removeprefix(url), r.status)),
    )
    visits = {**pages(api), "failed": "/ui#/jobs?status=failed", "schedules": "/ui#/schedules"}
    for path in visits.values():
        page.goto("about:blank")  # a whole load each time, not a change of hash
        sent.clear()
        page.goto(url + path)
        expect(page.locator("main h1").first).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Loading…")
        expect(page.locator("header .live")).to_have_attribute("data-state", "live")
        failing = [r for r in sent if r[2] >= 400]
        assert not failing, f"{path}: {failing}"
        assert [r for r in sent if r[:2] == ("GET", "/whoami")] == [("GET", "/whoami", 200)]
        assert not [r for r in sent if r[0] != "GET"], f"{path} changed something: {sent}"
    # With auth off every action is offered: nothing is hidden as not allowed.
    page.goto(url + "/ui#/queues")
    expect(page.locator("#read-only")).to_have_count(0)
    expect(page.locator("main table button").first).to_be_visible()


def test_the_server_address_leads_to_the_dashboard(page: Page, url: str) -> None:
    page.goto(url + "/")
    assert page.url.startswith(url + "/ui")
    expect(page.locator("header .brand")).to_have_text("accepted")


def test_a_job_page_shows_its_params_and_times(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("show")
    job = enqueue(api, queue, {"to": "grace@example.com", "n": 7})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    expect(page.locator("h1.id")).to_have_text(job["id"])
    expect(page.locator("main .title .badge")).to_have_text("queued")
    expect(page.locator("pre.json").first).to_contain_text('"grace@example.com"')
    expect(page.locator('dd[data-field="created_at"] time')).to_have_attribute(
        "datetime", job["created_at"]
    )
    expect(page.locator(".crumbs")).to_contain_text(queue)


def test_delete_asks_first_and_keeping_changes_nothing(
    page: Page, api: httpx.Client, url: str
) -> None:
    job = enqueue(api, unique_queue("delete"), {"x": 1})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    page.locator('button[data-action="delete"]').click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text("Delete this job?")
    dialog.locator('button[data-answer="no"]').click()
    expect(dialog).to_have_count(0)
    assert api.get(f"/jobs/{job['id']}").status_code == 200

    page.locator('button[data-action="delete"]').click()
    dialog.locator('button[data-answer="yes"]').click()
    expect(page).to_have_url(f"{url}/ui#/queues/{job['queue']}")
    assert api.get(f"/jobs/{job['id']}").status_code == 404


def test_a_job_page_links_its_dependencies_and_shows_its_unique_key(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("deps")
    first = enqueue(api, queue)
    response = api.post(
        "/jobs",
        json={"queue": queue},
        headers={"X-Accepted-After": first["id"], "X-Accepted-Unique-Key": "nightly-7"},
    )
    job = response.json()
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    expect(page.locator('dd[data-field="unique_key"]')).to_have_text("nightly-7")
    link = page.locator('dd[data-field="after"] a')
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("h1.id")).to_have_text(first["id"])
