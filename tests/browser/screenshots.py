"""The dashboard screenshots docs/operations.md shows, made with the browser
tier's set-up: a real server on a fresh SQLite file, fed through the public
API by a small producer and worker while the browser looks.

    .venv/bin/python -m tests.browser.screenshots [docs/img]

It takes about a minute: the throughput sparkline needs a minute of readings.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page

from tests.browser.support import LAPTOP, PHONE, chromium
from tests.support.servers import ServerProcess

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
WARM_UP = 60.0  # seconds of steady work before the first shot

QUEUES = {
    "emails": lambda n: {"to": f"user{n}@example.com", "template": "welcome"},
    "thumbnails": lambda n: {"image": f"s3://uploads/{n:05d}.png", "sizes": [64, 256]},
    "reports": lambda n: {"customer": f"acme-{n % 7}", "month": "2026-11"},
    "webhooks.stripe": lambda n: {"event": "invoice.paid", "invoice": f"in_{n:08d}"},
}


def seed(api: httpx.Client) -> str:
    """A backlog in every queue, some failures, and one paused queue; returns
    the id of a failed job to show."""
    failed: list[str] = []
    for n in range(120):
        queue = list(QUEUES)[n % len(QUEUES)]
        api.post("/jobs", json={"queue": queue, "params": QUEUES[queue](n)})
    for queue in QUEUES:
        for n in range(3):
            job = api.post("/want_job", params={"queue": queue}).json()
            result = {"error": "SMTP 550: mailbox unavailable"} if n == 0 else {"ok": True}
            status = "failed" if n == 0 else "done"
            api.put(f"/jobs/{job['id']}", json={"status": status, "result": result})
            if status == "failed":
                failed.append(job["id"])
    api.post("/queues/reports/pause")
    return failed[0]


def work(url: str, stop: threading.Event) -> None:
    """A producer and a worker at a steady pace, so counts and throughput move."""
    with httpx.Client(base_url=url, timeout=10.0) as api:
        n = 0
        while not stop.is_set():
            queue = ("emails", "thumbnails", "webhooks.stripe")[n % 3]
            api.post("/jobs", json={"queue": queue, "params": QUEUES[queue](1000 + n)})
            taken = api.post("/want_job", params={"queue": queue})
            if taken.status_code == 200:
                job = taken.json()
                failed = n % 11 == 0
                api.put(
                    f"/jobs/{job['id']}",
                    json={
                        "status": "failed" if failed else "done",
                        "result": {"error": "timeout"} if failed else {"ok": True},
                    },
                )
            n += 1
            stop.wait(0.25 + 0.2 * (n % 4))


def shoot(page: Page, url: str, route: str, path: Path) -> None:
    if page.url != url + route:  # a new hash only: the page (and its readings) stays
        page.goto(url + route)
    page.wait_for_selector("main h1")
    page.wait_for_timeout(1500)  # let the live reading settle before the shot
    page.screenshot(path=str(path))
    print(path)


def shots(browser: Browser, url: str, job: str, out: Path) -> None:
    routes = {
        "queues": "/ui#/queues",
        "queue": "/ui#/queues/emails",
        "jobs": "/ui#/jobs?status=failed",
        "job": f"/ui#/jobs/{job}",
    }
    # What docs/operations.md shows: each page once, at the width it reads best.
    wanted = {"laptop": ("queues", "queue", "job"), "phone": ("queues", "jobs", "job")}
    pages = {}
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        pages[size] = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
        pages[size].goto(url + routes["queues"])
    time.sleep(WARM_UP)  # the throughput readings build up in the open pages
    for size, page in pages.items():
        for name in wanted[size]:
            shoot(page, url, routes[name], out / f"dashboard-{name}-{size}.png")


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(db=f"{tmp}/shots.db", log_path=Path(tmp) / "server.log").start()
        stop = threading.Event()
        worker = threading.Thread(target=work, args=(server.url, stop))
        try:
            with httpx.Client(base_url=server.url, timeout=10.0) as api:
                job = seed(api)
            worker.start()
            with chromium() as browser:
                shots(browser, server.url, job, out)
        finally:
            stop.set()
            if worker.is_alive():
                worker.join()
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
