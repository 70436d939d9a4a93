"""Unique keys and dependencies on POST /jobs: reading them, and the answers' headers."""

from __future__ import annotations

from collections.abc import Sequence

from accepted.errors import InvalidField, InvalidHeader, UnknownDependency
from accepted.http import params
from accepted.http.context import Context
from accepted.http.request import Request
from accepted.service.auth import Caller
from accepted.service.ids import canonical_id
from accepted.service.jobs import NewJob, Placed

DUPLICATE = (params.DUPLICATE.key, b"true")


def header_unique_key(request: Request) -> str | None:
    raw = request.header(params.UNIQUE_KEY.key)
    return None if raw is None else check_unique_key(raw, f"header {params.UNIQUE_KEY.name}")


def check_unique_key(value: str, where: str) -> str:
    if not 1 <= len(value) <= params.MAX_KEY or not value.isprintable():
        problem = f"must be 1 to {params.MAX_KEY} printable characters"
        if where.startswith("header"):
            raise InvalidHeader(f"{where} {problem}")
        raise InvalidField(f"{where} {problem}")
    return value


def header_after(request: Request) -> tuple[str, ...]:
    """X-Accepted-After: job ids, comma-separated (spaces allowed), each a UUID."""
    raw = request.header(params.AFTER.key)
    if raw is None:
        return ()
    where = f"header {params.AFTER.name}"
    ids = [part.strip() for part in raw.split(",")]
    if len(ids) > params.MAX_AFTER:
        raise InvalidHeader(f"{where} lists {len(ids)} jobs; at most {params.MAX_AFTER}")
    return tuple(dict.fromkeys(_job_id(i, where, InvalidHeader) for i in ids))


def item_after(refs: Sequence[str] | None, index: int) -> tuple[str, ...]:
    """A batch item's `after`: job ids, or "$N" naming an earlier item of the batch."""
    if not refs:
        return ()
    where = f"[{index}].after"
    checked = []
    for ref in refs:
        if ref.startswith("$"):
            number = ref[1:]
            if not number.isdecimal() or not 0 <= int(number) < index:
                raise InvalidField(
                    f"{where}: {ref!r} must name an earlier item of the batch ($0 to ${index - 1})"
                    if index
                    else f"{where}: the first item cannot wait on another item"
                )
            checked.append(f"${int(number)}")
        else:
            checked.append(_job_id(ref, where, InvalidField))
    return tuple(dict.fromkeys(checked))


def _job_id(raw: str, where: str, error: type[InvalidHeader] | type[InvalidField]) -> str:
    try:
        return canonical_id(raw)
    except ValueError:
        raise error(f"{where}: {raw[:64]!r} is not a job id") from None


async def check_seen_after(ctx: Context, caller: Caller, batch: Sequence[NewJob]) -> None:
    """A limited token's `after` may name only jobs of its queues (`Caller.check_dependencies`);
    a "$N" names an item of the batch, whose queue is checked already."""
    if caller.scope is None:
        return
    named = [ref for new in batch for ref in new.after if not ref.startswith("$")]
    if named:
        caller.check_dependencies([new.after for new in batch], await ctx.service.queues_of(named))


def unknown(exc: UnknownDependency, batch: bool) -> UnknownDependency:
    """The store's unknown dependency, named by where the request gave it."""
    where = f"[{exc.index}].after" if batch else f"header {params.AFTER.name}"
    return UnknownDependency(f"{where} names no job {exc.dependency}", index=exc.index)


def no_headers_on_batch(request: Request) -> None:
    for param, field in ((params.UNIQUE_KEY, "unique_key"), (params.AFTER, "after")):
        if request.header(param.key) is not None:
            raise InvalidHeader(
                f"header {param.name} applies to a single job; in a batch, give each item "
                f"its own {field}"
            )


def batch_headers(placed: Sequence[Placed]) -> list[tuple[bytes, bytes]]:
    """X-Accepted-Duplicates: the items answered by a job already holding their key
    (now, or when their idempotency key was first used)."""
    found = [str(i) for i, p in enumerate(placed) if p.outcome.duplicate]
    return [(params.DUPLICATES.key, ",".join(found).encode())] if found else []
