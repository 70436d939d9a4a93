"""What both backends share about idempotency keys: the refusal each conflict raises."""

from __future__ import annotations

from accepted.errors import IdempotencyKeyInUse, IdempotencyKeyReused, JobNotFound
from accepted.store.base import IdempotencyKey

SHOWN = 64  # how much of a key a message quotes


def _named(key: IdempotencyKey) -> str:
    text = key.key if len(key.key) <= SHOWN else key.key[:SHOWN] + "..."
    return f"Idempotency-Key {text!r}"


def reused(key: IdempotencyKey) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"{_named(key)} was first used for a different request (queue, params or a job "
        "option differ); use a new key for a new job"
    )


def in_use(key: IdempotencyKey) -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        f"{_named(key)} is in use by a request still being handled; retry shortly"
    )


def gone(key: IdempotencyKey, job_id: str) -> JobNotFound:
    return JobNotFound(
        f"{_named(key)} made job {job_id}, which no longer exists (deleted, or removed "
        "after its result TTL)"
    )
