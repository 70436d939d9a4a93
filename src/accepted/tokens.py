"""API tokens as the store keeps them: a name, a role, the queues it may touch.

No I/O here. The secret itself is never kept: only its SHA-256, which is
enough to recognise it and useless to whoever reads the table.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

import msgspec

# Secrets start with this, so a leaked one is recognisable in logs and scanners.
SECRET_PREFIX = "acc_"


class Role(StrEnum):
    READER = "reader"
    PRODUCER = "producer"
    WORKER = "worker"
    ADMIN = "admin"


class Token(msgspec.Struct, frozen=True):
    """One stored token. `queues` None: every queue; else names, `prefix*` patterns."""

    name: str
    role: Role
    queues: tuple[str, ...] | None
    created_at: float
    expires_at: float | None
    hash: str


def new_secret() -> str:
    """256 bits from the OS's CSPRNG: guessing one is not a thing to worry about."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """A plain SHA-256 suffices: the secrets are random, not passwords a dictionary holds."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class QueueScope:
    """The queues a limited token may touch: exact names and `prefix*` patterns."""

    __slots__ = ("exact", "prefixes")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = frozenset(p for p in patterns if not p.endswith("*"))
        self.prefixes = tuple(sorted({p[:-1] for p in patterns if p.endswith("*")}))

    def allows(self, queue: str) -> bool:
        return queue in self.exact or any(queue.startswith(p) for p in self.prefixes)
