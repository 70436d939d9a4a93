"""Which batch calls the server under test has, found by trying each once, so a
workload the server cannot run is skipped with a message instead of failing."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

_UNSUPPORTED = (400, 404, 405)
_QUEUE = "bench-probe"


@dataclass
class Features:
    """None where the call works, else why not."""

    batch_enqueue: str | None
    batch_take: str | None
    batch_report: str | None

    def batch_missing(self) -> str | None:
        """The first batch call the server lacks (the later ones were not tried)."""
        return next(
            (m for m in (self.batch_enqueue, self.batch_take, self.batch_report) if m), None
        )


def _call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw[:200]
    finally:
        conn.close()


def _refused(what: str, status: int, body: Any) -> str:
    return f"the server has no {what} (HTTP {status}: {str(body)[:160]})"


def probe(port: int) -> Features:
    status, body = _call(port, "POST", "/jobs", [{"queue": _QUEUE, "params": {}}])
    if status != 202 or not isinstance(body, list):
        reason = _refused("batch enqueue (POST /jobs with an array)", status, body)
        return Features(reason, "not tried", "not tried")
    status, taken = _call(
        port, "POST", f"/want_job?queue={_QUEUE}", None, {"X-Accepted-Count": "1"}
    )
    take = None
    if status != 200 or not isinstance(taken, list) or not taken:
        take = _refused("batch take (want_job with X-Accepted-Count)", status, taken)
        return Features(None, take, "not tried")
    report = [{"id": taken[0]["id"], "status": "done", "lease": taken[0].get("lease")}]
    status, body = _call(port, "PUT", "/jobs", report)
    done = None
    if status != 200 or not isinstance(body, list):
        done = _refused("batch report (PUT /jobs with an array)", status, body)
    return Features(None, take, done)
