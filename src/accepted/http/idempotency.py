"""Idempotency-Key on POST /jobs: reading the keys, and the answers of a replay."""

from __future__ import annotations

from collections.abc import Sequence

from accepted.errors import InvalidField, InvalidHeader
from accepted.http import flow, params, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.service.auth import ANYONE
from accepted.service.idempotency import GLOBAL_SCOPE
from accepted.service.jobs import NewJob, Placed

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
    ctx: Context, request: Request, new: NewJob, key: str | None, now: float
) -> Placed:
    """The job its key stands for (or its unique key's holder), and what was done."""
    return (await _enqueue(ctx, request, [new], [key], now))[0]


async def _enqueue(
    ctx: Context,
    request: Request,
    batch: Sequence[NewJob],
    keys: Sequence[str | None],
    now: float,
) -> list[Placed]:
    if all(key is None for key in keys):  # unique keys or dependencies only
        return await ctx.service.enqueue_once(batch, [None] * len(batch), now)
    return await ctx.keys().enqueue(batch, keys, scope_of(request), now)


def answer_headers(placed: Placed) -> list[tuple[bytes, bytes]]:
    """Idempotent-Replayed for a replay, X-Accepted-Duplicate for a unique key's holder
    (both for the replay of a request a holder answered: it answers as the first did)."""
    extra = [REPLAYED] if placed.outcome.replayed else []
    return [*extra, flow.DUPLICATE] if placed.outcome.duplicate else extra


async def enqueue_batch(
    ctx: Context,
    request: Request,
    batch: Sequence[NewJob],
    keys: Sequence[str | None],
    now: float,
) -> Response:
    """A batch with keys, unique keys or dependencies: 202 with every job;
    Idempotent-Replayed when every job was a replay; X-Accepted-Duplicates lists
    the items a unique key's holder answered for."""
    placed = await _enqueue(ctx, request, batch, keys, now)
    extra = [REPLAYED] if all(p.outcome.replayed for p in placed) else []
    extra += flow.batch_headers(placed)
    return Response.json(202, render.jobs_json([p.job for p in placed]), *extra)


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
