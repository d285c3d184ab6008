"""The session budget of one API key: the arithmetic that refuses a schedule at start, and the sliding-window
guard that enforces it at run time.

Each (model, probe) job opens one session per interval, plus at most one recovery session after a failed
turn, so per endpoint (one key): sessions/min = models x probes x 60 / interval (+ as many recoveries). The
base rate must fit the budget; recoveries are the headroom, which the run-time guard charges as they happen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.clock import SYSTEM_CLOCK, Clock

__all__ = ["EndpointSchedule", "QuotaGuard", "schedule_problems"]

_MINUTE = 60.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class EndpointSchedule:
    """The jobs of one endpoint: how many probe kinds each of its models runs."""

    endpoint: str
    probes_per_model: tuple[int, ...]


def schedule_problems(
    schedules: Sequence[EndpointSchedule],
    *,
    interval: float,
    sessions_per_minute: int,
    sessions_per_day: int,
) -> list[str]:
    """One problem per budget a schedule exceeds, with the arithmetic, as `budgets.<key>: ...`."""
    problems: list[str] = []
    for schedule in schedules:
        jobs = sum(schedule.probes_per_model)
        if jobs == 0:
            continue
        shapes = set(schedule.probes_per_model)
        if len(shapes) == 1:
            terms = f"{_plural(len(schedule.probes_per_model), 'model')} x {_plural(shapes.pop(), 'probe')}"
        else:
            terms = f"{jobs} (model, probe) jobs"
        where = f" on endpoint {schedule.endpoint!r}" if len(schedules) > 1 else ""
        for key, window, unit, budget in (
            ("sessions_per_minute", _MINUTE, "min", sessions_per_minute),
            ("sessions_per_day", _DAY, "day", sessions_per_day),
        ):
            needed = jobs * window / interval
            if needed > budget:
                problems.append(
                    f"budgets.{key}: schedule{where} needs {terms} x {window:g}/{interval:g} s = "
                    f"{needed:g} sessions/{unit} (+ up to {needed:g} recoveries) "
                    f"but budgets.{key} is {budget}"
                )
    return problems


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class QuotaGuard:
    """Sliding one-minute and one-day windows of sessions opened with one key."""

    def __init__(self, *, per_minute: int, per_day: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._per_minute = per_minute
        self._per_day = per_day
        self._clock = clock
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()

    def try_acquire(self) -> bool:
        """Count one session if both windows have room; False (and nothing counted) otherwise."""
        now = self._clock.monotonic()
        self._expire(now)
        if len(self._minute) >= self._per_minute or len(self._day) >= self._per_day:
            return False
        self.charge(now)
        return True

    def charge(self, now: float | None = None) -> None:
        """Count a session that was opened anyway (a recovery after a failed turn)."""
        moment = self._clock.monotonic() if now is None else now
        self._minute.append(moment)
        self._day.append(moment)

    def _expire(self, now: float) -> None:
        while self._minute and now - self._minute[0] >= _MINUTE:
            self._minute.popleft()
        while self._day and now - self._day[0] >= _DAY:
            self._day.popleft()
