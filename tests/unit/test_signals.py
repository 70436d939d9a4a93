"""Wake-up bookkeeping: which blocked taker a new job wakes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from accepted.service.signals import IllegalTransition, Taker, Takers, TakerState
from accepted.types import JSON_EMPTY_OBJECT, Job, JobStatus


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
    first.look()
    takers.looked(first, [_job()])  # it looked, and took the job
    takers.remove(first)
    assert not second.event.is_set()


async def test_a_look_that_took_nothing_passes_nothing_on() -> None:
    """Nothing there when it looked: another taker had it, and waking a third for
    it would only make it look in vain."""
    takers = Takers()
    first, second = takers.add(["q"]), takers.add(["q"])
    takers.job_available("q")
    first.look()
    takers.looked(first, [])
    takers.remove(first)
    assert not second.event.is_set()


async def test_a_look_that_took_another_queues_job_passes_the_wake_up_on() -> None:
    takers = Takers()
    first, second = takers.add(["a", "q"]), takers.add(["q"])
    takers.job_available("q")
    first.look()
    takers.looked(first, [_job(queue="a")])  # a better job of a, by priority
    assert not second.event.is_set()  # passed on as `first` leaves, not to itself
    takers.remove(first)  # it leaves with a's job
    assert second.event.is_set() and second.queue_token == "q"


async def test_a_look_that_never_finished_passes_the_wake_up_on() -> None:
    """Its claim raised, or its client left mid-claim: the job is still there."""
    takers = Takers()
    first, second = takers.add(["q"]), takers.add(["q"])
    takers.job_available("q")
    first.look()
    takers.remove(first)
    assert second.event.is_set() and second.queue_token == "q"


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


# -- the taker's lifecycle (TakerState): each transition, and the illegal ones --


def _job(job_id: str = "j1", queue: str = "q") -> Job:
    return Job(
        id=job_id,
        queue=queue,
        status=JobStatus.RUNNING,
        priority=1,
        params=JSON_EMPTY_OBJECT,
        max_attempts=3,
        created_at=0.0,
        updated_at=0.0,
        due_at=0.0,
    )


async def _idle(
    takers: Takers, queues: list[str] | None = None
) -> tuple[Taker, asyncio.Task[None]]:
    """A taker blocked on its event (IDLE), and the task blocking it."""
    taker = takers.add(queues or ["q"])
    blocked = asyncio.create_task(taker.wait())
    await asyncio.sleep(0)  # let it block
    assert taker.state is TakerState.IDLE
    return taker, blocked


async def test_a_new_taker_looks_and_becomes_idle_while_it_blocks() -> None:
    takers = Takers()
    taker = takers.add(["q"])
    assert taker.state is TakerState.LOOKING and takers.waiting() == 0
    taker, blocked = await _idle(takers)
    assert takers.waiting() == 1
    blocked.cancel()  # its block ran out: it looks again
    await asyncio.gather(blocked, return_exceptions=True)
    assert taker.state is TakerState.LOOKING and takers.waiting() == 0


async def test_a_wake_up_makes_it_woken_and_a_look_uses_it_up() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.job_available("q")
    await blocked
    assert (taker.state, taker.queue_token) == (TakerState.WOKEN, "q")
    assert taker.look() == []
    assert (taker.state, taker.queue_token, taker.event.is_set()) == (
        TakerState.LOOKING,
        None,
        False,
    )


async def test_reserved_then_handed_over_returns_the_jobs_to_the_taker() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    assert takers.reserve("q") is taker and taker.state is TakerState.RESERVED
    takers.job_available("q")  # a reserved taker is woken by nobody else
    assert not taker.event.is_set()
    assert taker.hand_over([_job()]) is True
    await blocked
    assert taker.state is TakerState.HANDED and taker.has_jobs
    assert [j.id for j in taker.look()] == ["j1"]
    assert taker.state is TakerState.LOOKING and takers.remove(taker) == []
    assert taker.state is TakerState.GONE


async def test_a_released_reservation_wakes_the_taker_to_look_again() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.reserve("q")
    taker.release()  # the insert failed: nothing was written
    await blocked
    assert taker.state is TakerState.RELEASED and taker.look() == []
    assert taker.state is TakerState.LOOKING


async def test_a_taker_removed_while_reserved_is_abandoned_and_its_jobs_go_back() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.reserve("q")
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)
    assert taker.state is TakerState.RESERVED  # still reserved: the enqueue is in flight
    assert takers.remove(taker) == []
    assert taker.state is TakerState.ABANDONED
    assert taker.hand_over([_job()]) is False  # the caller gives the jobs back
    assert taker.state is TakerState.GONE


async def test_an_abandoned_taker_whose_enqueue_failed_is_gone() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.reserve("q")
    takers.remove(taker)
    taker.release()
    assert taker.state is TakerState.GONE
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)


async def test_a_taker_removed_with_jobs_handed_over_gives_them_to_its_caller() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.reserve("q")
    taker.hand_over([_job("a"), _job("b")])
    await blocked
    assert [j.id for j in takers.remove(taker)] == ["a", "b"]  # to be given back
    assert taker.state is TakerState.GONE


async def test_only_an_idle_taker_is_reserved() -> None:
    takers = Takers()
    looking = takers.add(["q"])  # the oldest, but looking on its own: a wake-up reaches it
    _, blocked = await _idle(takers)
    assert takers.reserve("q") is None and looking.state is TakerState.LOOKING
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)


async def test_paused_and_limited_queues_reserve_nobody() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.set_paused("q", True)
    assert takers.reserve("q") is None
    takers.set_paused("q", False)  # the resume wakes it
    assert taker.state is TakerState.WOKEN
    taker.look()
    takers.set_limited("q", True)
    assert "q" in takers.limited
    assert takers.reserve("q") is None
    takers.set_limited("q", False)
    assert not takers.limited
    await blocked


async def test_close_wakes_a_reserved_taker_but_leaves_it_reserved() -> None:
    takers = Takers()
    taker, blocked = await _idle(takers)
    takers.reserve("q")
    takers.close()
    await blocked
    assert taker.state is TakerState.RESERVED and taker.event.is_set()
    assert taker.hand_over([_job()]) is True


@pytest.mark.parametrize(
    ("state", "transition"),
    [
        (TakerState.LOOKING, "reserve"),
        (TakerState.WOKEN, "reserve"),
        (TakerState.LOOKING, "hand_over"),
        (TakerState.IDLE, "hand_over"),
        (TakerState.HANDED, "hand_over"),
        (TakerState.IDLE, "release"),
        (TakerState.HANDED, "release"),
        (TakerState.GONE, "look"),
        (TakerState.ABANDONED, "look"),
        (TakerState.GONE, "hand_over"),
        (TakerState.GONE, "remove"),
    ],
)
async def test_an_illegal_transition_raises_and_changes_nothing(
    state: TakerState, transition: str
) -> None:
    takers = Takers()
    taker = takers.add(["q"])
    taker._state = state  # placed there directly: the test is of the check alone
    calls: dict[str, Callable[[], object]] = {
        "reserve": taker.reserve,
        "hand_over": lambda: taker.hand_over([_job()]),
        "release": taker.release,
        "look": taker.look,
        "remove": lambda: takers.remove(taker),
    }
    with pytest.raises(IllegalTransition, match=f"{transition} from {state.value}"):
        calls[transition]()
    assert taker.state is state


async def test_a_taker_that_may_no_longer_take_is_skipped_and_woken_to_leave() -> None:
    takers = Takers()
    revoked = takers.add(["q"], may_take=lambda: False)  # e.g. its token was revoked
    blocked = asyncio.create_task(revoked.wait())
    other, other_blocked = await _idle(takers)
    assert takers.reserve("q") is other  # the hand-off goes to the next in line
    await blocked
    assert revoked.state is TakerState.WOKEN and revoked.queue_token is None  # to leave
    takers.remove(revoked)
    assert other.state is TakerState.RESERVED
    other_blocked.cancel()


async def test_a_wake_up_skips_a_taker_that_may_no_longer_take() -> None:
    takers = Takers()
    revoked, other = takers.add(["q"], may_take=lambda: False), takers.add(["q"])
    takers.job_available("q")
    assert other.event.is_set() and other.queue_token == "q"
    assert revoked.event.is_set() and revoked.queue_token is None
    takers.remove(revoked)  # it leaves; the job's wake-up is the other's, not passed twice
    assert other.state is TakerState.WOKEN


async def test_a_change_of_rights_wakes_only_the_takers_that_may_no_longer_take() -> None:
    takers = Takers()
    allowed = [True]
    revoked = takers.add(["q"], may_take=lambda: allowed[0])
    other = takers.add(["q"])
    takers.wake_refused()
    assert not revoked.event.is_set() and not other.event.is_set()
    allowed[0] = False  # its token was revoked
    takers.wake_refused()
    assert revoked.event.is_set() and revoked.queue_token is None
    assert not other.event.is_set()


async def test_a_resume_wakes_no_taker_whose_prefixes_the_queue_lacks() -> None:
    """A limited token's taker of `job-*` waits under any queue, but a resumed
    `mail` is none of its: woken for it, it would look in vain, and a wake-up
    it leaves unused would be passed on for a job nobody stands behind."""
    takers = Takers()
    scoped = takers.add(None, prefixes=("job-",))
    mine = takers.add(None, prefixes=("mail",))
    takers.set_paused("mail", True)
    takers.set_paused("mail", False)
    assert scoped.state is TakerState.LOOKING and not scoped.event.is_set()
    assert mine.state is TakerState.WOKEN and mine.queue_token == "mail"
