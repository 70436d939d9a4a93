"""Signing callbacks, and checking a signature on the receiving end.

A callback carries `Accepted-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
over `"<t>.<raw body>"`. Signing the time with the body lets a receiver refuse
a delivery replayed long after it was sent; several secrets let a secret be
rotated without a moment in which good deliveries fail the check.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "Accepted-Signature"
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Accepted-Signature` header value for `body` sent at `timestamp`."""
    return f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: str | Iterable[str],
    tolerance: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether `header` signs `body` with one of `secrets`, sent within `tolerance` s.

    `body` must be the raw bytes received: parsing and re-encoding the JSON
    would change them. `secrets` is one secret or several (during a rotation,
    the new and the old). A missing or malformed header, an unknown secret,
    or a time further than `tolerance` seconds from `now` (default: this
    machine's clock) all answer False; the comparison is constant-time.
    """
    parsed = _parse(header or "")
    if parsed is None:
        return False
    timestamp, candidates = parsed
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [signature(key, timestamp, body) for key in keys if key]
    return any(hmac.compare_digest(e, c) for e in expected for c in candidates)


def _parse(header: str) -> tuple[int, list[str]] | None:
    """`t=...,v1=...[,v1=...]` as (t, [v1 values]); None when it is not that shape."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():  # "²".isdigit() is True
            timestamp = int(value)
        elif name == SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return None
    return timestamp, candidates


def secret_list(setting: str) -> list[str]:
    """`--callback-secret a,b` as ["a", "b"]: the first signs, all are valid for receivers."""
    return [s.strip() for s in setting.split(",") if s.strip()]
