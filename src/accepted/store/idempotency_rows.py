"""What both backends share about idempotency keys: how a held key is replayed,
and the refusal each conflict raises."""

from __future__ import annotations

from typing import NamedTuple

from accepted.errors import IdempotencyKeyInUse, IdempotencyKeyReused, JobNotFound
from accepted.store.base import IdempotencyKey, Outcome

SHOWN = 64  # how much of a key a message quotes

# A key whose first request was answered by a unique key's holder (a
# duplicate) stores its fingerprint behind this mark, so that a replay answers
# a duplicate again: the stored row remembers the answer, not only the job,
# without a column of its own (both dialects store the fingerprint as text).
HOLDER_MARK = "holder:"


class Replay(NamedTuple):
    """A held key's request, as its first answer was: the job, and whether a holder answered."""

    job_id: str
    duplicate: bool

    @property
    def outcome(self) -> Outcome:
        return Outcome.REPLAYED_DUPLICATE if self.duplicate else Outcome.REPLAY


def answered_by_holder(key: IdempotencyKey) -> str:
    """The fingerprint to store once a unique key's holder answered the key's request."""
    return HOLDER_MARK + key.fingerprint


def replay(key: IdempotencyKey, fingerprint: str, job_id: str) -> Replay:
    """The replay of a held key stored with `fingerprint`; `IdempotencyKeyReused`
    when it was first used for another request."""
    if fingerprint == key.fingerprint:
        return Replay(job_id, duplicate=False)
    if fingerprint == answered_by_holder(key):
        return Replay(job_id, duplicate=True)
    raise reused(key)


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
