"""The node's counters, whichever of its processes serves the scrape (SPEC: "Metrics").

Each process of a several-process server (`accepted serve --workers N`) counts
in its own `Metrics`, on its own event loop, without locks. A scrape adds
them up:

1. the scraped process asks every sibling, over the node's local link, to
   publish ("M <request>");
2. each writes its snapshot to its file in the run directory (`metrics-<i>`,
   replaced whole by a rename, so a reader never sees half of one) and
   answers ("m <request>");
3. once all have answered, or after `ANSWER_TIMEOUT` (a sibling restarting
   after a crash cannot answer), the scraped process adds its own registry to
   every sibling's file.

Every process also publishes every `PUBLISH_INTERVAL` seconds, and a process
that starts in place of one that died begins from its predecessor's file: the
node's counters do not go back when a process is replaced, and lose at most
the last interval's counts of the process that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from accepted.metrics import Metrics
from accepted.siblings import Siblings

log = logging.getLogger("accepted.metrics")

ANSWER_TIMEOUT = 0.5  # seconds a scrape waits for the siblings to publish
PUBLISH_INTERVAL = 1.0  # seconds between a process's own publications

# A snapshot on file: {metric name: [[label values, value], ...]} (JSON has no tuple keys).
_FILE = msgspec.json.Decoder(dict[str, list[tuple[list[str], Any]]])


class Channel(Protocol):
    """The node's local link, as far as the metrics use it (`store.local_link.LocalLink`)."""

    node: str
    handlers: dict[str, Callable[[str], None]]

    def send(self, index: int, kind: str, rest: str) -> None: ...


class NodeMetrics:
    """This process's `Metrics` and the sum over the node's processes."""

    def __init__(self, own: Metrics, siblings: Siblings, channel: Channel) -> None:
        self.own = own
        self.siblings = siblings
        self.channel = channel
        self._ids = itertools.count(1)
        self._asked: dict[str, tuple[set[str], asyncio.Future[None]]] = {}
        self._publisher: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Take over a predecessor's counts, answer the siblings, publish now and then."""
        before = _read(self.siblings.metrics_file(self.siblings.index))
        if before:
            self.own.merge(before)
        self.channel.handlers["M"] = self._asked_to_publish
        self.channel.handlers["m"] = self._published
        self._publish_often()

    def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
        self.publish()

    async def total(self) -> Metrics:
        """The node's counters and histograms: every process's, added up."""
        await self._ask_siblings()
        total = Metrics()
        total.merge(self.own.snapshot())
        for index in self.siblings.others:
            total.merge(_read(self.siblings.metrics_file(index)))
        return total

    def publish(self) -> None:
        snapshot = {
            name: [[list(labels), value] for labels, value in values.items()]
            for name, values in self.own.snapshot().items()
        }
        path = self.siblings.metrics_file(self.siblings.index)
        temporary = path.with_name(path.name + ".new")
        try:
            temporary.write_bytes(msgspec.json.encode(snapshot))
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("could not publish this process's metrics: %s", exc)

    async def _ask_siblings(self) -> None:
        request = f"{self.channel.node}.{next(self._ids)}"
        waiting = {str(i) for i in self.siblings.others}
        done = asyncio.get_running_loop().create_future()
        self._asked[request] = (waiting, done)
        try:
            for index in self.siblings.others:
                self.channel.send(index, "M", request)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, ANSWER_TIMEOUT)
        finally:
            del self._asked[request]

    def _asked_to_publish(self, payload: str) -> None:
        _, sender, request = payload.split(" ", 2)
        self.publish()
        self.channel.send(int(sender), "m", request)

    def _published(self, payload: str) -> None:
        _, sender, request = payload.split(" ", 2)
        asked = self._asked.get(request)
        if asked is None:
            return  # an answer after the scrape gave up waiting
        waiting, done = asked
        waiting.discard(sender)
        if not waiting and not done.done():
            done.set_result(None)

    def _publish_often(self) -> None:
        self.publish()
        loop = asyncio.get_running_loop()
        self._publisher = loop.call_later(PUBLISH_INTERVAL, self._publish_often)


def _read(path: Path) -> dict[str, dict[tuple[str, ...], object]]:
    """A published snapshot as `Metrics.merge` takes it; empty if there is none yet."""
    try:
        raw = _FILE.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return {}
    return {name: {tuple(labels): value for labels, value in rows} for name, rows in raw.items()}
