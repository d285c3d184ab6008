"""The clock seam: monotonic readings for durations, aware UTC for timestamps.

Injected wherever time is read, so tests and benchmarks control it instead of patching `time`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...

    def now(self) -> datetime:
        """The aware UTC wall-clock time, for `*_at` fields only."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.perf_counter()

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK: Clock = SystemClock()
