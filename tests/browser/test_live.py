"""The dashboard follows the queue live (GET /events), without a reload."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.http.helpers import enqueue, take, unique_queue


def mark_the_page(page: Page) -> None:
    """A reload or navigation would wipe this; `still_the_same_page` checks it."""
    page.evaluate("window.notReloaded = true")


def events_read(page: Page) -> int:
    """How many events the page has read from GET /events (the live dot counts them)."""
    return int(page.locator("button.live").get_attribute("data-events") or 0)


def await_an_event_after(page: Page, before: int) -> None:
    """Waits until the page has read an event from the stream since `before`."""
    page.wait_for_function(
        "n => Number(document.querySelector('button.live').dataset.events) > n", arg=before
    )


def still_the_same_page(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def test_a_new_job_appears_without_a_reload(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("live")
    first = enqueue(api, queue, {"n": 1})
    page.goto(f"{url}/ui#/queues/{queue}")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    expect(page.locator("button.live")).to_have_attribute("data-state", "live")
    mark_the_page(page)

    before = events_read(page)
    second = enqueue(api, queue, {"n": 2})
    await_an_event_after(page, before)
    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-id", second["id"])  # newest first
    expect(rows.last).to_have_attribute("data-id", first["id"])
    assert still_the_same_page(page)


def test_the_queues_page_counts_a_new_job_without_a_reload(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("count")
    enqueue(api, queue, {"n": 1})
    page.goto(f"{url}/ui#/queues")
    queued = page.locator(f'tr[data-queue="{queue}"] td.c-queued')
    expect(queued).to_have_text("1")
    expect(page.locator("button.live")).to_have_attribute("data-state", "live")
    mark_the_page(page)

    before = events_read(page)
    enqueue(api, queue, {"n": 2})
    await_an_event_after(page, before)  # the stream told the page
    expect(queued).to_have_text("2")
    assert still_the_same_page(page)


def test_a_job_page_follows_its_job(page: Page, api: httpx.Client, url: str) -> None:
    queue = unique_queue("follow")
    job = enqueue(api, queue, {"n": 1})
    page.goto(f"{url}/ui#/jobs/{job['id']}")
    status = page.locator("main .title .badge")
    expect(status).to_have_text("queued")
    expect(page.locator("button.live")).to_have_attribute("data-state", "live")
    mark_the_page(page)

    before = events_read(page)
    assert take(api, queue) is not None
    await_an_event_after(page, before)
    expect(status).to_have_text("running")
    api.put(f"/jobs/{job['id']}", json={"status": "done", "result": {"sent": True}})
    expect(status).to_have_text("done")
    expect(page.locator("pre.json").nth(1)).to_contain_text('"sent": true')
    assert still_the_same_page(page)
