"""Idempotency-Key on POST /jobs: reading the keys, and the answers of a replay."""

from __future__ import annotations

from collections.abc import Sequence

from accepted.errors import InvalidField, InvalidHeader
from accepted.http import params, render
from accepted.http.request import Request, Response
from accepted.service.auth import ANYONE
from accepted.service.idempotency import GLOBAL_SCOPE, Idempotency
from accepted.service.jobs import NewJob
from accepted.types import Job

HEADER = b"idempotency-key"
MAX_KEY = params.MAX_KEY  # declared once, with the header (params.IDEMPOTENCY_KEY)
REPLAYED = (b"idempotent-replayed", b"true")


def header_key(request: Request) -> str | None:
    raw = request.header(HEADER)
    return None if raw is None else check_key(raw, "header Idempotency-Key")


def check_key(value: str, where: str) -> str:
    if not 1 <= len(value) <= MAX_KEY or not value.isprintable():
        raise _bad(where, f"must be 1 to {MAX_KEY} printable characters")
    return value


def item_keys(keys: Sequence[str | None]) -> list[str | None]:
    """The `idempotency_key` of each batch item, checked; one key may not repeat."""
    checked = [
        None if k is None else check_key(k, f"[{i}].idempotency_key") for i, k in enumerate(keys)
    ]
    seen: dict[str, int] = {}
    for i, key in enumerate(checked):
        if key is not None and seen.setdefault(key, i) != i:
            raise InvalidField(f"[{i}].idempotency_key repeats the key of [{seen[key]}]")
    return checked


def scope_of(request: Request) -> str:
    """Whose keys these are: the caller's token once auth names one, else one global scope."""
    caller = request.caller
    return GLOBAL_SCOPE if caller is ANYONE else caller.name  # token names are unique


async def enqueue_one(
    service: Idempotency, request: Request, new: NewJob, key: str, now: float
) -> tuple[Job, list[tuple[bytes, bytes]]]:
    """The job its key stands for, and the answer's extra headers (Idempotent-Replayed)."""
    ((job, replayed),) = await service.enqueue([new], [key], scope_of(request), now)
    return job, [REPLAYED] if replayed else []


async def enqueue_batch(
    service: Idempotency,
    request: Request,
    batch: Sequence[NewJob],
    keys: Sequence[str | None],
    now: float,
) -> Response:
    """A batch with keys: 202 with every job; Idempotent-Replayed when every job was a replay."""
    outcomes = await service.enqueue(batch, keys, scope_of(request), now)
    extra = [REPLAYED] if all(replayed for _, replayed in outcomes) else []
    return Response.json(202, render.jobs_json([job for job, _ in outcomes]), *extra)


def _bad(where: str, problem: str) -> InvalidHeader | InvalidField:
    if where.startswith("header"):
        return InvalidHeader(f"{where} {problem}")
    return InvalidField(f"{where} {problem}")


def no_header_on_batch(request: Request) -> None:
    if request.header(HEADER) is not None:
        raise InvalidHeader(
            "header Idempotency-Key applies to a single job; in a batch, give each item "
            "its own idempotency_key"
        )
