"""Job ids: UUIDv7 (RFC 9562), time-ordered, from buffered randomness.

Time order keeps new ids at the right edge of the id index, so an insert
touches one index page instead of a random one: about 3x fewer WAL pages per
job at group-commit batch sizes (bench.micro). The random bits come from one
os.urandom call per 409 ids rather than a syscall per id as with uuid4().
"""

from __future__ import annotations

import os
import time
import uuid

_CHUNK = 10 * 409
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


class _Entropy:
    def __init__(self) -> None:
        self._buffer = b""
        self._pos = 0

    def take(self) -> int:
        """80 fresh random bits."""
        if self._pos >= len(self._buffer):
            self._buffer, self._pos = os.urandom(_CHUNK), 0
        start = self._pos
        self._pos += 10
        return int.from_bytes(self._buffer[start : start + 10], "big")


_entropy = _Entropy()


def new_job_id() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, version 7, 74 random bits."""
    millis = time.time_ns() // 1_000_000
    rand = _entropy.take()
    value = (
        (millis & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | ((rand >> 62) & _RAND_A) << 64
        | 0b10 << 62
        | (rand & _RAND_B)
    )
    return str(uuid.UUID(int=value))
