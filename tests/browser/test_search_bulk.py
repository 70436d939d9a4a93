"""The job list: the search box finds a job by text in its params, and a bulk
action changes what the filter matches, only after the confirmation."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.http.helpers import enqueue, unique_queue


def test_search_finds_a_job_by_text_in_its_params(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("search")
    needle = f"zebra-{uuid.uuid4().hex[:8]}"
    wanted = enqueue(api, queue, {"customer": {"name": needle.upper()}, "n": 1})
    for n in range(3):
        enqueue(api, queue, {"customer": {"name": "someone else"}, "n": n})
    page.goto(f"{url}/ui#/jobs")
    page.get_by_label("Search jobs").fill(needle)
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", wanted["id"])
    assert f"q={needle}" in page.url  # the address keeps the search


def test_bulk_cancel_acts_on_the_filter_only_after_the_confirmation(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue, other = unique_queue("bulk"), unique_queue("bystander")
    jobs = [enqueue(api, queue, {"n": n}) for n in range(3)]
    bystander = enqueue(api, other, {"n": 0})
    page.goto(f"{url}/ui#/jobs?queue={queue}")
    expect(page.locator("table.jobs tbody tr")).to_have_count(3)

    page.locator('button[data-bulk="cancel"]').click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text(queue)
    expect(dialog).to_contain_text("About 3 jobs")
    dialog.locator('button[data-answer="no"]').click()
    expect(dialog).to_have_count(0)
    assert all(api.get(f"/jobs/{j['id']}").json()["status"] == "queued" for j in jobs)

    page.locator('button[data-bulk="cancel"]').click()
    dialog.locator('button[data-answer="yes"]').click()
    expect(page.locator(".toast")).to_contain_text("3 cancelled")
    expect(page.locator('table.jobs tbody tr[data-status="cancelled"]')).to_have_count(3)
    assert all(api.get(f"/jobs/{j['id']}").json()["status"] == "cancelled" for j in jobs)
    assert api.get(f"/jobs/{bystander['id']}").json()["status"] == "queued"


def test_bulk_cancel_of_ticked_jobs_leaves_the_others(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("ticked")
    jobs = [enqueue(api, queue, {"n": n}) for n in range(3)]
    page.goto(f"{url}/ui#/queues/{queue}")
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(3)
    for job in jobs[:2]:
        page.get_by_label(f"Select job {job['id']}").check()
    expect(page.locator(".bulk [data-scope]")).to_have_text("2 selected:")

    page.locator('button[data-bulk="cancel"]').click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text("Cancel the 2 selected jobs?")
    dialog.locator('button[data-answer="yes"]').click()
    expect(page.locator('table.jobs tbody tr[data-status="cancelled"]')).to_have_count(2)
    statuses = [api.get(f"/jobs/{job['id']}").json()["status"] for job in jobs]
    assert statuses == ["cancelled", "cancelled", "queued"]
    expect(page.locator(".bulk [data-scope]")).to_have_text("All matching:")
