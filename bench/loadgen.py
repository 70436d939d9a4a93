"""Load-generator processes: several forked clients, each running one role on
its own uvloop, started together at a barrier so that the server-side
counters read just after the barrier cover the same window as the clients.

Each child sends back one `Tally`. The parent ends every child it forked, by
PID, whatever happens.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from threading import BrokenBarrierError
from typing import Any

import uvloop

_FORK = multiprocessing.get_context("fork")  # the parent holds no threads or loops at fork


@dataclass
class Tally:
    """What one client process measured."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, one per request
    extra: dict[str, list[float]] = field(default_factory=dict)  # other latency series
    errors: list[str] = field(default_factory=list)  # the first few, for the report
    started: float = 0.0  # time.monotonic(): one clock for all processes
    finished: float = 0.0

    def error(self, message: str) -> None:
        self.counts["errors"] += 1
        if len(self.errors) < 5:
            self.errors.append(message)

    def series(self, name: str) -> list[float]:
        return self.extra.setdefault(name, [])


Role = Callable[[Any, Callable[[], None]], Coroutine[Any, Any, Tally]]


def _child(role: Role, spec: Any, barrier: Any, out: multiprocessing.connection.Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop

    def start() -> None:
        barrier.wait(120)

    try:
        tally: Tally = uvloop.run(role(spec, start))
    except BaseException:
        tally = Tally()
        tally.error("client process failed:\n" + traceback.format_exc())
        barrier.abort()
    out.send(tally)
    out.close()


class Fleet:
    """N client processes running `role`, one spec each."""

    def __init__(self, role: Role, specs: list[Any]) -> None:
        self.role = role
        self.specs = specs
        self.barrier = _FORK.Barrier(len(specs) + 1)
        self.procs: list[Any] = []
        self.pipes: list[multiprocessing.connection.Connection] = []

    def start(self) -> Fleet:
        for spec in self.specs:
            receiver, sender = _FORK.Pipe(duplex=False)
            proc = _FORK.Process(
                target=_child, args=(self.role, spec, self.barrier, sender), daemon=True
            )
            proc.start()
            sender.close()
            self.procs.append(proc)
            self.pipes.append(receiver)
        return self

    def go(self, timeout: float = 120.0) -> bool:
        """Wait until every child is connected and ready; False if one failed."""
        try:
            self.barrier.wait(timeout)
        except BrokenBarrierError:
            return False
        return True

    def results(self, timeout: float) -> list[Tally]:
        deadline = time.monotonic() + timeout
        tallies = []
        for pipe in self.pipes:
            remaining = max(0.0, deadline - time.monotonic())
            if pipe.poll(remaining):
                try:
                    tallies.append(pipe.recv())
                    continue
                except EOFError:
                    pass
            lost = Tally()
            lost.error("a client process sent no result in time")
            tallies.append(lost)
        self.stop()
        return tallies

    def stop(self) -> None:
        for proc in self.procs:
            proc.join(2.0)
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
        for pipe in self.pipes:
            pipe.close()
        self.procs, self.pipes = [], []


def run_fleet(role: Role, specs: list[Any], timeout: float) -> tuple[list[Tally], bool]:
    """Start, release at once, collect. The bool says whether the start went well."""
    fleet = Fleet(role, specs).start()
    try:
        ok = fleet.go()
        return fleet.results(timeout), ok
    finally:
        fleet.stop()


async def until_deadline(tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Let `tasks` run for `seconds`, then cancel what is still running.

    Responses that arrive after the deadline are never counted, so the window
    is exactly `seconds` long whatever was in flight.
    """
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
