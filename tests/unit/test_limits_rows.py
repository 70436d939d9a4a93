"""The rate window's arithmetic (store/limits_rows.py) under skewed clocks.

PostgreSQL nodes share one rate log, each stamping hand-outs with its own
clock; the window is trimmed by bisection, so the log must stay in order.
"""

from __future__ import annotations

from accepted.queries import QueueLimits, Rate
from accepted.store.limits_rows import logged, room_for

LIMITS = QueueLimits(Rate(3, 10.0), None, None)


def test_a_node_whose_clock_is_behind_keeps_the_log_in_order() -> None:
    ahead = logged(room_for("q", LIMITS, [], 0, {}, 100.0), 1, 100.0)
    assert ahead is not None
    behind = logged(room_for("q", LIMITS, ahead, 0, {}, 99.0), 2, 99.0)
    assert behind is not None
    assert behind == sorted(behind)
    # Every hand-out stays counted until the window has passed them all.
    assert room_for("q", LIMITS, behind, 0, {}, 109.5).left == 0
    assert room_for("q", LIMITS, behind, 0, {}, 110.0).left == 3
