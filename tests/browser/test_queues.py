"""The queues: counts on the list, pause and resume from the list and from a
queue's page, checked through the API (and by a take that gets nothing)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import failed_job
from tests.http.helpers import enqueue, take, unique_queue


def test_pause_and_resume_a_queue(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("pause")
    enqueue(api, queue, {"n": 1})
    page.goto(f"{url}/ui#/queues/{queue}")
    badge = page.locator(".queue-head [data-paused]")
    expect(badge).to_have_attribute("data-paused", "false")

    page.locator('.queue-head button[data-action="pause"]').click()
    expect(badge).to_have_attribute("data-paused", "true")
    assert api.get(f"/queues/{queue}").json()["paused"] is True
    assert take(api, queue) is None  # the pause is real: nothing is handed out

    page.locator('.queue-head button[data-action="resume"]').click()
    expect(badge).to_have_attribute("data-paused", "false")
    assert api.get(f"/queues/{queue}").json()["paused"] is False


def test_the_queues_page_shows_counts_and_pauses_from_the_list(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("list")
    failed_job(api, queue, {"n": 0})
    for n in range(2):
        enqueue(api, queue, {"n": n})
    page.goto(f"{url}/ui#/queues")
    row = page.locator(f'tr[data-queue="{queue}"]')
    expect(row.locator("td.c-queued")).to_have_text("2")
    expect(row.locator("td.c-failed")).to_have_text("1")
    row.locator('button[data-action="pause"]').click()
    expect(row.locator("[data-paused]")).to_have_attribute("data-paused", "true")
    assert api.get(f"/queues/{queue}").json()["paused"] is True


def test_the_queues_page_shows_recent_throughput(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("rate")
    failed_job(api, queue, {"n": 0})
    page.goto(f"{url}/ui#/queues")
    rate = page.locator(f'tr[data-queue="{queue}"] td[data-label="finished"] .rate span')
    expect(rate).to_be_visible()  # the page's first reading counts one job finished
    for n in range(1, 4):
        failed_job(api, queue, {"n": n})
    # Readings a few seconds apart (events and the page's 5 s tick) give a rate.
    expect(rate).to_have_text(re.compile(r"^\d+(\.\d)?/min$"))
    expect(rate).not_to_have_text("0.0/min")
