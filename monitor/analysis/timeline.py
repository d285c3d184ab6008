"""Timeline reconstruction: probe history -> regimes, onset intervals, the cross-model view, wire patterns.

Pure functions over probe records (or per-step counts from Prometheus); the mathematics lives in
`monitor.changepoint`. A series is one (model, probe) pair ordered by time. A trial is one probe
turn; it fails when its outcome is not `ok`. `prober_error` turns are our own bugs, never the provider's:
they are dropped from the series and counted in `Series.excluded`.

A window is rarely the whole story: `timeline --since 30m` right after a page sees a few turns of the old
regime, or none. A `Prior` (`monitor.analysis.prior`) says what is known of the rate before the window and
enters the analysis as one extra bin in front of the window: PELT and the onset posterior both see it, so a
window that fails from its first turn is a change at its start ("failing since at least ..."), never "one
regime, unchanged". The wire patterns of the report live in `monitor.analysis.wire`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from monitor.changepoint import LEVEL, Change, segment, wilson_interval
from monitor.probe.outcome import Outcome
from monitor.probe.record import ProbeResult

if TYPE_CHECKING:
    from monitor.analysis.prior import Prior

__all__ = [
    "LEVEL",
    "CoChange",
    "ModelWindow",
    "Onset",
    "Regime",
    "Series",
    "SeriesTimeline",
    "build_timeline",
    "cross_model",
    "failure_class",
    "series_from_records",
    "series_from_turns",
    "worst_regression",
]

# An onset whose after-rate is under this multiple of the before-rate is flagged low-precision (the posterior
# is wide; docs/detection.md, "Onset").
_PRECISE_RATIO = 10.0
_JUST_BEFORE = timedelta(microseconds=1)


def failure_class(outcome: str, code: int | None) -> str:
    """The label a failure is counted under: `server_close 1011`, `timeout`, ..."""
    return f"{outcome} {code}" if code is not None else outcome


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """Per-bin counts of one (model, probe) series. A bin is one probe (resolution None) or one query step."""

    model: str
    probe: str
    times: npt.NDArray[np.float64]  # epoch seconds: the probe's start, or the end of the step
    trials: npt.NDArray[np.int64]
    failures: npt.NDArray[np.int64]
    classes: tuple[str, ...] = ()  # failure classes, the columns of class_counts
    class_counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    resolution: float | None = None
    excluded: int = 0  # prober_error turns dropped from the series


@dataclass(frozen=True, slots=True)
class Regime:
    start: datetime
    end: datetime
    trials: int
    failures: int
    rate: float
    rate_low: float  # 95% Wilson interval
    rate_high: float
    failures_by_class: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Onset:
    """A change point, as the first turn that showed the new regime (a failure after a rise, a success after a
    fall): that turn lies in (after, before] with 95% posterior probability.

    `open_start`: the interval reaches the window's first turn, so the change may be older than the window
    ("failing since at least <after>; widen --since"); `after` is then that first turn.
    """

    after: datetime  # the turn before the earliest turn that may be the first of the new regime
    before: datetime  # the latest turn that may be the first of the new regime
    most_likely: datetime  # the first turn of the new regime at the posterior mode
    width_bins: int  # probe intervals (or steps) spanned by the interval
    rate_before: float
    rate_after: float
    precise: bool  # False when the rates differ by less than 10x either way
    open_start: bool = False

    @property
    def rising(self) -> bool:
        return self.rate_after > self.rate_before


@dataclass(frozen=True, slots=True)
class SeriesTimeline:
    model: str
    probe: str
    regimes: tuple[Regime, ...]
    onsets: tuple[Onset, ...]  # onsets[i] separates regimes[i] and regimes[i + 1]
    resolution: float | None
    excluded: int
    # A change between the prior and the window's first turn: regimes[0] is already the new regime.
    leading: Onset | None = None
    prior: Prior | None = None

    @property
    def changes(self) -> tuple[Onset, ...]:
        """Every onset in time order, the leading one first."""
        return ((self.leading,) if self.leading else ()) + self.onsets


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(float(epoch), tz=UTC)


def series_from_records(records: Iterable[ProbeResult]) -> list[Series]:
    """Group records into (model, probe) series ordered by started_at; prober_error turns are excluded."""
    grouped: dict[tuple[str, str], list[ProbeResult]] = defaultdict(list)
    excluded: Counter[tuple[str, str]] = Counter()
    for record in records:
        key = (record.model, record.probe.value)
        if record.outcome is Outcome.PROBER_ERROR:
            excluded[key] += 1
        else:
            grouped[key].append(record)
    for key in excluded:
        grouped.setdefault(key, [])
    result = []
    for (model, probe), items in sorted(grouped.items()):
        items.sort(key=lambda r: r.started_at)
        labels = [None if r.ok else failure_class(r.outcome.value, r.code) for r in items]
        classes = tuple(sorted({label for label in labels if label is not None}))
        column = {name: i for i, name in enumerate(classes)}
        counts = np.zeros((len(items), len(classes)), dtype=np.int64)
        for row, label in enumerate(labels):
            if label is not None:
                counts[row, column[label]] = 1
        result.append(
            Series(
                model=model,
                probe=probe,
                times=np.array([r.started_at.timestamp() for r in items], dtype=np.float64),
                trials=np.ones(len(items), dtype=np.int64),
                failures=counts.sum(axis=1),
                classes=classes,
                class_counts=counts,
                excluded=excluded[(model, probe)],
            )
        )
    return result


def series_from_turns(model: str, probe: str, turns: Sequence[tuple[int, str, int | None]]) -> Series:
    """One series from its turns' (started_at epoch ms, outcome, code), already in time order.

    The same series as `series_from_records` gives for those records, without a `ProbeResult` per turn: the
    store reads these columns from an index, so a million turns take about a second instead of half a minute.
    """
    started, outcomes, codes = zip(*turns, strict=True) if turns else ((), (), ())
    kinds = np.array(outcomes, dtype=np.str_)
    kept = kinds != Outcome.PROBER_ERROR.value
    failed = np.flatnonzero(kinds[kept] != Outcome.OK.value)
    kept_rows = np.flatnonzero(kept)
    labels = [failure_class(outcomes[i], codes[i]) for i in kept_rows[failed].tolist()]
    classes = tuple(sorted(set(labels)))
    column = {name: i for i, name in enumerate(classes)}
    counts = np.zeros((kept_rows.size, len(classes)), dtype=np.int64)
    counts[failed, [column[label] for label in labels]] = 1
    # ms / 1000 rounds exactly like datetime.timestamp() of the same millisecond: both are correctly rounded.
    times = np.array(started, dtype=np.int64)[kept] / 1000.0
    return Series(
        model=model,
        probe=probe,
        times=times.astype(np.float64),
        trials=np.ones(kept_rows.size, dtype=np.int64),
        failures=counts.sum(axis=1),
        classes=classes,
        class_counts=counts,
        excluded=int(kinds.size - kept_rows.size),
    )


def _regime(series: Series, lo: int, hi: int) -> Regime:
    trials = int(series.trials[lo:hi].sum())
    failures = int(series.failures[lo:hi].sum())
    low, high = wilson_interval(failures, trials)
    by_class: dict[str, int] = {}
    if series.class_counts.size:
        sums = series.class_counts[lo:hi].sum(axis=0)
        by_class = {name: int(n) for name, n in zip(series.classes, sums, strict=True) if n}
    return Regime(
        start=_utc(series.times[lo]),
        end=_utc(series.times[hi - 1]),
        trials=trials,
        failures=failures,
        rate=failures / trials if trials else 0.0,
        rate_low=low,
        rate_high=high,
        failures_by_class=by_class,
    )


def _onset(series: Series, change: Change) -> Onset:
    """The change's interval as times: its first event lies in (after, before]."""
    times = series.times
    low_rate, high_rate = sorted((change.rate_before, change.rate_after))
    return Onset(
        after=_utc(times[change.first if change.open_start else change.first - 1]),
        before=_utc(times[change.last]),
        most_likely=_utc(times[change.mode]),
        width_bins=change.last - change.first + 1,
        rate_before=change.rate_before,
        rate_after=change.rate_after,
        precise=high_rate >= _PRECISE_RATIO * max(low_rate, 1e-9) and high_rate > 0,
        open_start=change.open_start,
    )


def build_timeline(series: Series, beta: float | None = None, prior: Prior | None = None) -> SeriesTimeline:
    """Segment one series into regimes (PELT) and bracket every change point (exact posterior).

    With a `prior`, its counts are one bin in front of the window: it informs the first regime's rate and a
    change between it and the window's first turn is the `leading` onset. Regimes count window turns only.
    """
    counts = (prior.failures, prior.trials) if prior is not None else None
    found = segment(series.failures, series.trials, prior=counts, beta=beta)
    regimes = tuple(_regime(series, a, b) for a, b in found.regimes)
    onsets = [_onset(series, change) for change in found.changes]
    leading = onsets.pop(0) if found.changes and found.changes[0].position == 0 else None
    return SeriesTimeline(
        series.model, series.probe, regimes, tuple(onsets), series.resolution, series.excluded, leading, prior
    )


@dataclass(frozen=True, slots=True)
class ModelWindow:
    """One series' counts over a co-change window."""

    model: str
    probe: str
    trials: int
    failures: int
    changed: bool  # this series has an onset in the window
    # Not in this group, but this series changed on its own inside the window (its onset's most likely
    # turn, grouped separately): it must not be called unchanged here.
    changed_apart: datetime | None = None


@dataclass(frozen=True, slots=True)
class CoChange:
    """Onsets whose intervals overlap, and how every series fared from the first onset to the window's end."""

    start: datetime  # earliest `after` of the grouped onsets
    end: datetime  # the end of the latest new regime among them
    rising: bool
    changed: tuple[tuple[str, str, Onset], ...]  # (model, probe, onset)
    window: tuple[ModelWindow, ...]


def cross_model(timelines: Sequence[SeriesTimeline], series: Sequence[Series]) -> list[CoChange]:
    """Group onsets of the same direction whose 95% intervals overlap; count every series over the window."""
    found: list[tuple[str, str, Onset, datetime]] = []
    for timeline in timelines:
        if timeline.leading is not None:
            found.append((timeline.model, timeline.probe, timeline.leading, timeline.regimes[0].end))
        for i, onset in enumerate(timeline.onsets):
            found.append((timeline.model, timeline.probe, onset, timeline.regimes[i + 1].end))
    groups: list[list[tuple[str, str, Onset, datetime]]] = []
    for rising in (True, False):
        # An open-start onset reaches back before the window: its interval is (-inf, before], so open-start
        # onsets always overlap one another and sort first.
        members = sorted(
            (f for f in found if f[2].rising is rising), key=lambda f: (not f[2].open_start, f[2].after)
        )
        for item in members:
            if (
                groups
                and groups[-1][0][2].rising is rising
                and (
                    item[2].after < max(g[2].before for g in groups[-1])
                    or (item[2].open_start and all(g[2].open_start for g in groups[-1]))
                )
            ):
                groups[-1].append(item)
            else:
                groups.append([item])
    result = []
    for group in groups:
        # Counts run over (start, end]; an open-start onset's `after` is the window's first turn, which is
        # already in the new regime, so its group starts just before it.
        start = min(g[2].after - (_JUST_BEFORE if g[2].open_start else timedelta(0)) for g in group)
        end = max(g[3] for g in group)
        # A changed series counts from its own onset (its new regime, as its regimes table shows); the others
        # over the whole group window.
        own = {(g[0], g[1]): g[2].after - (_JUST_BEFORE if g[2].open_start else timedelta(0)) for g in group}
        hi = end.timestamp()
        window = []
        for s in series:
            lo = own.get((s.model, s.probe), start).timestamp()
            inside = (s.times > lo) & (s.times <= hi)
            apart = None
            if (s.model, s.probe) not in own:
                apart = min(
                    (f[2].most_likely for f in found if (f[0], f[1]) == (s.model, s.probe)
                     and start < f[2].most_likely <= end),
                    default=None,
                )  # fmt: skip
            window.append(
                ModelWindow(
                    s.model,
                    s.probe,
                    int(s.trials[inside].sum()),
                    int(s.failures[inside].sum()),
                    (s.model, s.probe) in own,
                    apart,
                )
            )
        result.append(
            CoChange(start, end, group[0][2].rising, tuple((g[0], g[1], g[2]) for g in group), tuple(window))
        )
    result.sort(key=lambda c: c.start)
    return result


def worst_regression(co_changes: Sequence[CoChange]) -> CoChange | None:
    """The rising co-change with the largest rise: the report's regression (None when nothing rose)."""
    rising = [c for c in co_changes if c.rising]
    if not rising:
        return None
    return max(rising, key=lambda c: max(o.rate_after - o.rate_before for _, _, o in c.changed))
