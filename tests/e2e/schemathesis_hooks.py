"""Schemathesis hooks for test_schemathesis.py: keep the fuzzed server's callbacks on loopback.

Schemathesis fills `X-Accepted-Callback-URL` and batch items' `callback_url`
with URLs of any host; a server listening on loopback delivers to any of them.
Every callback URL is rewritten to a closed loopback port just before the
request is sent, so no test traffic leaves the machine (the URL's checks at
enqueue still see a valid URL; what they refuse is covered by tests/http).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import schemathesis

LOOPBACK = "http://127.0.0.1:9/callback"  # the discard port: nothing listens


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # The generated request is the case's own headers and body; `kwargs` holds
    # only what the caller adds on top (both are rewritten).
    for headers in (case.headers, kwargs.get("headers")):
        for name in list(headers or {}):
            if name.lower() == "x-accepted-callback-url":
                headers[name] = LOOPBACK
    if isinstance(case.body, dict | list):
        case.body = _rewrite(case.body)
    if "json" in kwargs:
        kwargs["json"] = _rewrite(kwargs["json"])
    data = kwargs.get("data")
    if isinstance(data, bytes | str) and "callback_url" in (
        data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    ):
        # Not JSON: the server refuses it before any callback exists.
        with contextlib.suppress(ValueError):
            kwargs["data"] = json.dumps(_rewrite(json.loads(data))).encode()


def _rewrite(body: Any) -> Any:
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("callback_url"), str):
            item["callback_url"] = LOOPBACK
    return body
