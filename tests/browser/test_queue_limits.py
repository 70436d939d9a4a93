"""A queue's limits on its page: an admin sets them in the Limits form, the page shows
them, and the API (and a take) finds them in force."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.http.helpers import enqueue, take, unique_queue


def test_an_admin_sets_a_queues_limits_and_sees_them(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("limits")
    enqueue(api, queue, {"n": 1})
    enqueue(api, queue, {"n": 2})
    page.goto(f"{url}/ui#/queues/{queue}")
    page.locator('.queue-head button[data-action="limits"]').click()
    form = page.locator("dialog.limits")
    expect(form).to_be_visible()
    form.locator('input[name="concurrency"]').fill("1")
    form.locator('input[name="rate_jobs"]').fill("100")
    form.locator('input[name="rate_per"]').fill("60")
    form.locator('button[data-answer="yes"]').click()
    expect(form).to_have_count(0)
    card = page.locator(".queue-head [data-limits] b")
    expect(card).to_have_text("100 per 1m 00s, 1 at once")
    limits = api.get(f"/queues/{queue}").json()["limits"]
    assert limits == {"rate": {"jobs": 100, "per": 60.0}, "concurrency": 1,
                      "group_concurrency": None}
    assert take(api, queue) is not None
    assert take(api, queue) is None  # the limit is real: one running at a time

    page.locator('.queue-head button[data-action="limits"]').click()
    form.locator('input[name="concurrency"]').fill("0")  # below 1: the form refuses it
    form.locator('button[data-answer="yes"]').click()
    expect(form).to_be_visible()
    assert api.get(f"/queues/{queue}").json()["limits"]["concurrency"] == 1
    for name in ("concurrency", "rate_jobs", "rate_per"):  # empty: no limit
        form.locator(f'input[name="{name}"]').fill("")
    form.locator('button[data-answer="yes"]').click()
    expect(card).to_have_count(0)
    assert api.get(f"/queues/{queue}").json()["limits"]["concurrency"] is None


def test_half_a_rate_is_refused_in_the_form_before_it_is_sent(
    page: Page, api: httpx.Client, url: str
) -> None:
    queue = unique_queue("half-rate")
    enqueue(api, queue, {"n": 1})
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "PUT" else None)
    page.goto(f"{url}/ui#/queues/{queue}")
    page.locator('.queue-head button[data-action="limits"]').click()
    form = page.locator("dialog.limits")
    form.locator('input[name="rate_jobs"]').fill("5")  # no "per seconds"
    form.locator('button[data-answer="yes"]').click()
    problem = form.locator("[data-form-error]")
    expect(problem).to_be_visible()
    expect(problem).to_have_text(
        "A rate needs both its jobs and its seconds: fill in both, or leave both empty."
    )
    expect(form.locator('input[name="rate_per"]')).to_be_focused()
    assert sent == []  # nothing went to the server
    assert api.get(f"/queues/{queue}").json()["limits"]["rate"] is None

    form.locator('input[name="rate_per"]').fill("60")  # both: it is sent and saved
    form.locator('button[data-answer="yes"]').click()
    expect(form).to_have_count(0)
    assert api.get(f"/queues/{queue}").json()["limits"]["rate"] == {"jobs": 5, "per": 60.0}
