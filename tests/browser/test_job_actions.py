"""A job's page acts on it: retry a failed job, cancel a queued one; and it
shows the job's attempts. Each test checks through the API that the click did
what it said."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import failed_job
from tests.http.helpers import enqueue, unique_queue


def test_retry_a_failed_job(page: Page, api: httpx.Client, url: str) -> None:
    job = failed_job(api, unique_queue("retry"), {"n": 1})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    status = page.locator("main .title .badge")
    expect(status).to_have_text("failed")
    expect(page.locator('button[data-action="cancel"]')).to_be_disabled()

    page.locator('button[data-action="retry"]').click()
    expect(status).to_have_text("queued")
    now = api.get(f"/jobs/{job['id']}").json()
    assert now["status"] == "queued" and now["attempts"] == 0 and now["result"] is None


def test_cancel_a_queued_job(page: Page, api: httpx.Client, url: str) -> None:
    job = enqueue(api, unique_queue("cancel"), {"n": 1})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    page.locator('button[data-action="cancel"]').click()
    expect(page.locator("main .title .badge")).to_have_text("cancelled")
    assert api.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"


def test_a_job_page_shows_its_attempts(page: Page, api: httpx.Client, url: str) -> None:
    job = failed_job(api, unique_queue("attempts"), {"n": 1})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    attempt = page.locator('table.attempts tr[data-attempt="1"]')
    expect(attempt.locator(".badge")).to_have_text("failed")
    expect(attempt).to_contain_text('{"error":"boom"}')
