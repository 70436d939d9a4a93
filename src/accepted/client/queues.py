"""The operator's calls of the client: queues, pause and resume, listing and bulk actions.

Kept apart from `core` so the job calls there stay on one screen; both
clients send these calls as they send the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from accepted.client.core import Answer, Call, Retry, _check, _decode
from accepted.client.models import BulkOutcome, JobPage, Queue, Rate

T = TypeVar("T")

_encoder = msgspec.json.Encoder()

# A bulk action works through its jobs in chunks; on millions it takes minutes.
BULK_HOLD = 3600.0


class _QueueList(msgspec.Struct):
    queues: list[Queue]


_queue_decoder = msgspec.json.Decoder(Queue)
_queues_decoder = msgspec.json.Decoder(_QueueList)
_page_decoder = msgspec.json.Decoder(JobPage)
_bulk_decoder = msgspec.json.Decoder(BulkOutcome)


def _reader(decoder: msgspec.json.Decoder[T]) -> Callable[[Answer], T]:
    def read(answer: Answer) -> T:
        _check(answer, 200)
        return _decode(decoder, answer)

    return read


def _read_queues(answer: Answer) -> list[Queue]:
    return _reader(_queues_decoder)(answer).queues


def _queue_path(name: str, action: str = "") -> str:
    return "/queues/" + quote(name, safe="") + (f"/{action}" if action else "")


def queues() -> Call[list[Queue]]:
    return Call("GET", "/queues", _read_queues, retry=Retry.ALWAYS)


def queue(name: str) -> Call[Queue]:
    return Call("GET", _queue_path(name), _reader(_queue_decoder), retry=Retry.ALWAYS)


def pause(name: str) -> Call[Queue]:
    return Call("POST", _queue_path(name, "pause"), _reader(_queue_decoder), retry=Retry.ALWAYS)


def resume(name: str) -> Call[Queue]:
    return Call("POST", _queue_path(name, "resume"), _reader(_queue_decoder), retry=Retry.ALWAYS)


def set_limits(
    name: str,
    *,
    rate: tuple[int, float] | Rate | None = None,
    concurrency: int | None = None,
    group_concurrency: int | None = None,
) -> Call[Queue]:
    """PUT /queues/{name}/limits: the whole set (a limit left out is none)."""
    if isinstance(rate, tuple):
        rate = Rate(*rate)
    body = {"rate": rate, "concurrency": concurrency, "group_concurrency": group_concurrency}
    headers = {"content-type": "application/json"}
    return Call(  # the same PUT twice sets the same limits: safe to send again
        "PUT",
        _queue_path(name, "limits"),
        _reader(_queue_decoder),
        headers,
        body=_encoder.encode(body),
        retry=Retry.ALWAYS,
    )


def _filter_query(
    queue: str | Sequence[str] | None, status: str | Sequence[str] | None, search: str | None
) -> list[tuple[str, str]]:
    query = [("queue", q) for q in _names(queue)]
    query += [("status", str(s)) for s in _names(status)]
    if search:
        query.append(("q", search))
    return query


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def list_jobs(
    *,
    queue: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    search: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[JobPage]:
    query = _filter_query(queue, status, search)
    if limit is not None:
        query.append(("limit", str(limit)))
    if cursor is not None:
        query.append(("cursor", cursor))
    return Call("GET", "/jobs", _reader(_page_decoder), query=tuple(query), retry=Retry.ALWAYS)


def bulk(
    action: str,
    *,
    queue: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    search: str | None = None,
    ids: Sequence[str] | None = None,
    all: bool = False,
) -> Call[BulkOutcome]:
    where: dict[str, Any] = {}
    if queue is not None:
        where["queue"] = _names(queue)
    if status is not None:
        where["status"] = _names(status)
    if search:
        where["q"] = search
    if ids is not None:
        where["ids"] = list(ids)
    if all:
        where["all"] = True
    body = _encoder.encode({"action": action, "filter": where})
    # Sent again only when surely unsent: each action skips what it already changed,
    # but a repeat would count those as matched and unchanged.
    headers = {"content-type": "application/json"}
    return Call("POST", "/jobs/bulk", _reader(_bulk_decoder), headers, body=body, hold=BULK_HOLD)
