"""RegimeTracker: the current failure regime of every (endpoint, model, probe) series, kept as turns arrive.

It answers "since when?" while the daemon runs, for the onset gauge the alerts quote
(`gemini_live_probe_failure_onset_timestamp_seconds`) and the status page. Each series keeps its last
`WINDOW` provider turns; a failed turn (or any turn while the series is failing) re-segments them with the
timeline's mathematics (`monitor.changepoint.segment`, the expected failure rate as a prior worth
`BASELINE_WEIGHT` turns), so the daemon and `live-monitor timeline` give the same onset for the same turns.
An ok turn of a healthy series changes nothing and costs an append.

A series is failing when its last regimes follow a change, fail clearly more often than the expected rate
(95% Wilson interval above it) and hold at least 4 failures; the onset is the first failure of that episode
at the posterior mode, with its 95% interval. An episode longer than the window keeps the onset it had (the
window no longer holds the start). Healthy series carry the time they have been healthy since: their first
turn, or the first success of the last recovery. `prober_error` turns (our own bugs) are not provider turns
and are ignored.

Turns arrive on the event loop; the status page reads `snapshot()` from a worker thread, so both hold a lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from monitor.changepoint import Segmentation, segment, wilson_interval
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult

if TYPE_CHECKING:
    from monitor.store.records import Store

__all__ = ["BASELINE_WEIGHT", "WINDOW", "RegimeTracker", "SeriesKey", "SeriesRegime", "seed_from_store"]

# Four hours at the default one turn a minute per job: long enough that a slow 1%->10% drift shows, short
# enough that re-segmenting costs about a millisecond.
WINDOW: Final = 240
# The expected failure rate weighs as much as this many turns (as in the timeline's configured baseline).
BASELINE_WEIGHT: Final = 100
DEFAULT_RATE: Final = 0.01
# An episode needs as many failures as the page ladder's first rung (4): with 3, a 1% series read "failing"
# 0.055 times a job-day (a flicker every half hour across 1,000 jobs); with 4, 0.015, and an 80% onset is
# flagged after a median 5 turns, p90 7 (benchmarks/regime_tracker.py).
MIN_EPISODE_FAILURES: Final = 4
# Start-up reads this far back per series: the window's 240 turns at one a minute, with room; a bounded read
# (0.5 s measured for 1,000 jobs x 360 turns) however long the store's history.
SEED_LOOKBACK: Final = timedelta(hours=6)

SeriesKey = tuple[str, str, str]  # (endpoint, model, probe)


@dataclass(frozen=True, slots=True)
class SeriesRegime:
    """Where one series stands: failing since an onset, or healthy since a time (epoch seconds)."""

    failing: bool
    since: float  # failing: the onset's most likely first failure; healthy: start of the healthy regime
    onset_after: float | None  # failing: the first failure lies in (onset_after, onset_before] (95%)
    onset_before: float | None
    # The start may be older than the turns the daemon holds (failing: the onset; healthy: `since` is the
    # oldest turn held, so "healthy for at least ...").
    open_start: bool
    rate: float  # failure rate of the current regime
    turns: int  # turns of the current regime in the window
    last_turn: float | None = None


@dataclass(slots=True)
class _Series:
    rate: float
    times: deque[float]
    failed: deque[int]
    state: SeriesRegime | None = None


class RegimeTracker:
    """Current regimes of every series; `record` is called with each recorded turn, in time order."""

    def __init__(self, *, expected_rates: Mapping[str, float] | None = None, window: int = WINDOW) -> None:
        self._rates = dict(expected_rates or {})
        self.window = window
        self._series: dict[SeriesKey, _Series] = {}
        self._lock = threading.Lock()

    def register(self, key: SeriesKey, expected_rate: float | None = None) -> None:
        """Make a configured series known before its first turn (the status page shows "no turn yet")."""
        with self._lock:
            self._get(key, expected_rate)

    def _get(self, key: SeriesKey, expected_rate: float | None = None) -> _Series:
        series = self._series.get(key)
        if series is None:
            rate = self._rates.get(key[1], DEFAULT_RATE) if expected_rate is None else expected_rate
            series = _Series(rate, deque(maxlen=self.window), deque(maxlen=self.window))
            self._series[key] = series
        elif expected_rate is not None:
            series.rate = expected_rate
        return series

    def series(self) -> list[SeriesKey]:
        """Every series known (registered or seen), sorted."""
        with self._lock:
            return sorted(self._series)

    def seed(self, key: SeriesKey, turns: Iterable[tuple[float, bool]]) -> SeriesRegime | None:
        """Load a series' recent turns (epoch seconds, failed) from the store at start-up, oldest first."""
        with self._lock:
            series = self._get(key)
            for at, failed in turns:
                series.times.append(at)
                series.failed.append(int(failed))
            if series.times:
                series.state = self._assess(series, None)
            return series.state

    def record(self, result: ProbeResult) -> SeriesRegime | None:
        """Add one recorded turn; the series' regime afterwards (None for a prober_error turn)."""
        if result.outcome is Outcome.PROBER_ERROR:
            return None
        key = (result.endpoint, result.model, result.probe.value)
        at = result.started_at.timestamp()
        with self._lock:
            series = self._get(key)
            series.times.append(at)
            series.failed.append(0 if result.ok else 1)
            previous = series.state
            if previous is not None and not previous.failing and result.ok:
                # An ok turn of a healthy series: still healthy since the same time.
                series.state = _with_turn(previous, at)
            else:
                series.state = self._assess(series, previous)
            return series.state

    def snapshot(self) -> dict[SeriesKey, tuple[SeriesRegime | None, tuple[tuple[float, bool], ...]]]:
        """Every series' regime and its turns in the window (epoch seconds, failed), for the status page."""
        with self._lock:
            return {
                key: (s.state, tuple(zip(s.times, (bool(f) for f in s.failed), strict=True)))
                for key, s in self._series.items()
            }

    def _assess(self, series: _Series, previous: SeriesRegime | None) -> SeriesRegime:
        times = np.fromiter(series.times, dtype=np.float64)
        failed = np.fromiter(series.failed, dtype=np.int64)
        prior = (round(series.rate * BASELINE_WEIGHT), BASELINE_WEIGHT)
        found = segment(failed, np.ones_like(failed), prior=prior)
        return _regime_of(found, times, failed, series.rate, previous)


def _with_turn(state: SeriesRegime, at: float) -> SeriesRegime:
    return SeriesRegime(
        state.failing, state.since, state.onset_after, state.onset_before, state.open_start,
        state.rate, state.turns + 1, at,
    )  # fmt: skip


def _regime_of(
    found: Segmentation,
    times: npt.NDArray[np.float64],
    failed: npt.NDArray[np.int64],
    expected: float,
    previous: SeriesRegime | None,
) -> SeriesRegime:
    """The current regime from a segmentation of the window (prior in front)."""
    last_turn = float(times[-1])
    starts = {change.position: change for change in found.changes}

    def elevated(bounds: tuple[int, int]) -> bool:
        # A regime after a change (the one before every change holds the prior) that is clearly above the
        # expected rate: its 95% Wilson interval lies above it.
        a, b = bounds
        return a in starts and wilson_interval(int(failed[a:b].sum()), b - a)[0] > expected

    episode = len(found.regimes)
    while episode > 0 and elevated(found.regimes[episode - 1]):
        episode -= 1
    start, end = found.regimes[-1]
    rate = float(failed[start:end].sum()) / max(end - start, 1)
    in_episode = int(failed[found.regimes[episode][0] :].sum()) if episode < len(found.regimes) else 0
    if in_episode >= MIN_EPISODE_FAILURES:
        onset = starts[found.regimes[episode][0]]
        if onset.open_start and previous is not None and previous.failing and previous.since < times[0]:
            # The episode began before the oldest turn held: keep the onset found when it was in the window.
            return SeriesRegime(
                True, previous.since, previous.onset_after, previous.onset_before, previous.open_start,
                rate, end - start, last_turn,
            )  # fmt: skip
        after = float(times[onset.first] if onset.open_start else times[onset.first - 1])
        return SeriesRegime(
            True, float(times[onset.mode]), after, float(times[onset.last]), onset.open_start,
            rate, end - start, last_turn,
        )  # fmt: skip
    if previous is not None and not previous.failing:
        since, open_start = previous.since, previous.open_start
    elif previous is not None:
        # A recovery: from the first success of the regime that ended the episode, else from now.
        recovery = starts.get(start)
        since = float(times[recovery.mode]) if recovery is not None and not recovery.rising else last_turn
        open_start = False
    else:
        since, open_start = float(times[0]), True
    return SeriesRegime(False, since, None, None, open_start, rate, end - start, last_turn)


def seed_from_store(tracker: RegimeTracker, store: Store, now: datetime) -> dict[SeriesKey, SeriesRegime]:
    """Load every registered series' last WINDOW turns of the 6 h before `now` (blocking: a worker thread).

    One indexed read per series, once at start-up, so a restarted daemon keeps an ongoing episode's onset.
    """
    seeded: dict[SeriesKey, SeriesRegime] = {}
    for key in tracker.series():
        _endpoint, model, probe = key
        turns = store.turn_columns(model=model, probe=ProbeKind(probe), since=now - SEED_LOOKBACK)
        kept = [
            (ms / 1000.0, outcome != Outcome.OK)
            for ms, outcome, _ in turns
            if outcome != Outcome.PROBER_ERROR
        ]
        regime = tracker.seed(key, kept[-tracker.window :])
        if regime is not None:
            seeded[key] = regime
    return seeded
