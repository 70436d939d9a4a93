"""The schedules page: next and last runs, run now, pause and resume, checked
through the API; and a schedule's fires showing up without a reload."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.http.helpers import unique_queue


def make(api: httpx.Client, name: str, **body: object) -> dict[str, object]:
    answer = api.put(f"/schedules/{name}", json=body)
    assert answer.status_code == 200, answer.text
    made: dict[str, object] = answer.json()
    return made


def test_run_now_pause_and_resume(page: Page, api: httpx.Client, url: str) -> None:
    name, queue = unique_queue("nightly"), unique_queue("reports")
    make(api, name, queue=queue, cron="30 2 * * *", timezone="Europe/Berlin", params={"k": 1})
    page.goto(f"{url}/ui#/schedules")
    row = page.locator(f'tr[data-schedule="{name}"]')
    expect(row.locator('td[data-label="when"]')).to_have_text("30 2 * * * (Europe/Berlin)")
    expect(row.locator(".next-run time")).to_have_text(re.compile(r"^in "))
    expect(row.locator(".last-job")).to_have_text("—")

    row.locator('button[data-action="run"]').click()
    expect(row.locator(".last-job a")).to_be_visible()
    schedule = api.get(f"/schedules/{name}").json()
    job_id = schedule["last_job_id"]
    expect(row.locator(".last-job a")).to_have_attribute("data-job", job_id)
    job = api.get(f"/jobs/{job_id}").json()
    assert (job["schedule"], job["queue"], job["params"]) == (name, queue, {"k": 1})

    row.locator('button[data-action="pause"]').click()
    expect(row.locator("[data-paused]")).to_have_attribute("data-paused", "true")
    paused = api.get(f"/schedules/{name}").json()
    assert (paused["paused"], paused["next_run_at"]) == (True, None)
    assert paused["params"] == {"k": 1} and paused["timezone"] == "Europe/Berlin"  # kept whole
    expect(row.locator(".next-run")).to_have_text("—")

    row.locator('button[data-action="resume"]').click()
    expect(row.locator("[data-paused]")).to_have_attribute("data-paused", "false")
    resumed = api.get(f"/schedules/{name}").json()
    assert resumed["paused"] is False and resumed["next_run_at"] == schedule["next_run_at"]


def test_fires_show_as_last_runs_without_a_reload(page: Page, api: httpx.Client, url: str) -> None:
    name = unique_queue("tick")
    page.goto(f"{url}/ui#/schedules")
    expect(page.locator("header nav a.current")).to_have_text("Schedules")
    make(api, name, queue=unique_queue("ticks"), every=1)
    row = page.locator(f'tr[data-schedule="{name}"]')
    try:
        expect(row.locator(".last-job a")).to_be_visible()  # the page read it after its fire
        shown = row.locator(".last-job a").get_attribute("data-job")
        assert api.get(f"/jobs/{shown}").json()["schedule"] == name
    finally:
        api.delete(f"/schedules/{name}")
