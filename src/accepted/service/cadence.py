"""When a schedule fires: a cron expression in a time zone, or every N seconds.

Cron expressions are evaluated by cronsim (a small, maintained library written
for Healthchecks, which matches Debian's cron, including its handling of
daylight-saving changes) on `zoneinfo` time zones:

- an expression whose minute and hour fields are both set (neither starts
  with `*`: `30 2 * * *`, `0 9,17 * * *`) runs at those wall-clock times. A
  time the clock skips (spring forward) runs at the first minute after the
  gap; a time the clock passes twice (fall back) runs once, the first time.
- an expression whose minute or hour starts with `*` (`*/5 * * * *`,
  `0 * * * *`) follows elapsed time: every five real minutes, every real hour,
  through a change as on any other day.

Every function here is pure: the service passes the time in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from accepted.errors import InvalidField

MAX_CRON = 255  # characters of a cron expression
CRON_FIELDS = 5  # minute hour day-of-month month day-of-week


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo:
    """The IANA time zone `name`; InvalidField naming it when there is none."""
    if name == "UTC":
        return UTC
    if name not in _iana_names():  # not the host's `localtime` or other files of its tz folder
        raise InvalidField(f"timezone {name[:64]!r} is not a known IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidField(f"timezone {name[:64]!r} is not a known IANA time zone") from None


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    """The IANA zone names, from the tzdata package's list: the same on every host,
    where the host's zoneinfo folder also holds `localtime` (whatever this host's
    clock says) and `posixrules`, which would make a schedule mean different
    things on different nodes."""
    return frozenset(files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


@dataclass(frozen=True, slots=True)
class Cron:
    expression: str
    tz: tzinfo

    def first(self, now: float) -> float | None:
        """The first fire of a new (or resumed) schedule: the next match after now."""
        return self.after(now, now)

    def after(self, fire_at: float, t: float) -> float | None:
        """The first match strictly after `t` (None: none in the next 50 years)."""
        start = datetime.fromtimestamp(t, self.tz)
        try:
            found = next(CronSim(self.expression, start))
        except StopIteration:
            return None
        return found.timestamp()


@dataclass(frozen=True, slots=True)
class Every:
    seconds: float

    def first(self, now: float) -> float | None:
        """An `every` schedule first fires one interval after it is made (or resumed)."""
        return now + self.seconds

    def after(self, fire_at: float, t: float) -> float | None:
        """The first fire strictly after `t` of the series fire_at, fire_at + every, ..."""
        steps = math.floor((t - fire_at) / self.seconds) + 1
        return fire_at + max(steps, 1) * self.seconds


Cadence = Cron | Every


def cadence(cron: str | None, every: float | None, timezone: str) -> Cadence:
    """The cadence a definition asks for; InvalidField saying what is wrong with it."""
    tz = zone(timezone)
    if (cron is None) == (every is None):
        raise InvalidField("give exactly one of cron (an expression) and every (seconds)")
    if every is not None:
        if not math.isfinite(every) or every <= 0:
            raise InvalidField(f"every {every!r} must be a number of seconds > 0")
        return Every(every)
    assert cron is not None
    return Cron(_checked(cron), tz)


def _checked(expression: str) -> str:
    """A five-field cron expression cronsim accepts and that fires at least once."""
    shown = expression[:64]
    if len(expression) > MAX_CRON:
        raise InvalidField(f"cron is longer than {MAX_CRON} characters")
    if len(expression.split()) != CRON_FIELDS:
        raise InvalidField(
            f"cron {shown!r} must have 5 fields: minute hour day-of-month month day-of-week"
        )
    try:
        next(CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise InvalidField(f"cron {shown!r} is not a valid expression: {exc}") from None
    except StopIteration:
        raise InvalidField(f"cron {shown!r} never fires") from None
    return expression
