"""Wake-up bookkeeping: which blocked taker a new job wakes."""

from __future__ import annotations

from accepted.service.signals import Takers


async def test_a_job_wakes_the_longest_waiting_taker_of_its_queue() -> None:
    takers = Takers()
    first, other, second = takers.add(["q"]), takers.add(["other"]), takers.add(None)
    takers.job_available("q")
    assert first.event.is_set() and not second.event.is_set() and not other.event.is_set()
    takers.job_available("q")
    assert second.event.is_set() and not other.event.is_set()


async def test_a_wake_up_left_unused_passes_to_the_next_in_line() -> None:
    takers = Takers()
    first, second = takers.add(["q"]), takers.add(["q"])
    takers.job_available("q")
    takers.remove(first)  # e.g. its client hung up before it looked
    assert second.event.is_set()


async def test_a_consumed_wake_up_is_not_passed_on() -> None:
    takers = Takers()
    first, second = takers.add(["q"]), takers.add(["q"])
    takers.job_available("q")
    first.consume()  # it looked, and took the job
    takers.remove(first)
    assert not second.event.is_set()


async def test_more_jobs_than_takers_wakes_each_once() -> None:
    takers = Takers()
    waiting = [takers.add(["q"]) for _ in range(3)]
    takers.job_available("q", count=5)
    assert all(t.event.is_set() for t in waiting)
    assert len(takers) == 3


async def test_close_releases_everyone_and_new_takers_at_once() -> None:
    takers = Takers()
    waiting = takers.add(["q"])
    takers.close()
    assert waiting.event.is_set()
    assert takers.add(None).event.is_set()
