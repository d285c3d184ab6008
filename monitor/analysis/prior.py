"""What is known of a series' failure rate before its window: the prior of the timeline's first regime.

`timeline --since 30m` right after a page sees a few turns of the old regime, or none. The prior comes from
the first of: the series' own turns before the window (their last regime), the pinned versions of its family
over the window, the configured expected failure rate. `build_timeline` puts it as one extra bin in front of
the window (docs/timeline.md, "Short and fresh windows").
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from monitor.analysis.timeline import Series
from monitor.changepoint import pelt, wilson_interval

__all__ = [
    "BASELINE_WEIGHT",
    "DEFAULT_BASELINE",
    "MAX_PRIOR_TRIALS",
    "Prior",
    "PriorSource",
    "baseline_prior",
    "choose_priors",
    "counts_prior",
    "history_prior",
]

# The expected failure rate of a healthy model when nothing else is known (`models[].expected_failure_rate`).
DEFAULT_BASELINE = 0.01
# A configured baseline weighs as much as this many turns: enough that 4 failures in 8 turns are a change
# (docs/timeline.md), little enough that a window of 30 real turns outweighs a wrong guess.
BASELINE_WEIGHT = 100
# Earlier turns (or siblings') are scaled down to this many: they describe the rate before the window, but a
# day of them must not outweigh the window itself when the two disagree.
MAX_PRIOR_TRIALS = 200


class PriorSource(StrEnum):
    """Where the prior on a series' pre-window failure rate came from."""

    HISTORY = "history"  # the series' own turns before the window
    SIBLINGS = "siblings"  # pinned versions of the same model family, over the window
    BASELINE = "baseline"  # the configured expected failure rate


@dataclass(frozen=True, slots=True)
class Prior:
    """What is known of a series' failure rate before its window: `failures` of `trials`, as one extra bin."""

    failures: int
    trials: int
    source: PriorSource
    # The history shows the series already failing before the window since this time: the prior is the
    # healthy regime before that episode, and the report says when the episode began.
    failing_since: datetime | None = None

    @property
    def rate(self) -> float:
        return self.failures / self.trials if self.trials else 0.0

    def describe(self) -> str:
        """`history before the window: 2/200 failed` and the like, for the report."""
        if self.source is PriorSource.BASELINE:
            text = f"expected baseline {100 * self.rate:.1f}% (weighted as {self.trials} turns)"
        else:
            where = (
                "its own turns before the window" if self.source is PriorSource.HISTORY else "pinned siblings"
            )
            text = f"{where}: {self.failures}/{self.trials} failed"
        if self.failing_since is not None:
            text += f"; already failing before the window, since {self.failing_since:%Y-%m-%d %H:%M:%S} UTC"
        return text


def baseline_prior(rate: float) -> Prior:
    """The prior of a configured expected failure rate (0 <= rate < 1), worth BASELINE_WEIGHT turns."""
    return Prior(round(min(max(rate, 0.0), 1.0) * BASELINE_WEIGHT), BASELINE_WEIGHT, PriorSource.BASELINE)


def counts_prior(failures: int, trials: int, source: PriorSource) -> Prior | None:
    """A prior from observed counts, scaled down to MAX_PRIOR_TRIALS at the same rate; None without trials."""
    if trials <= 0:
        return None
    if trials > MAX_PRIOR_TRIALS:
        failures, trials = round(failures * MAX_PRIOR_TRIALS / trials), MAX_PRIOR_TRIALS
    return Prior(int(failures), int(trials), source)


# A history regime is a failure episode when its 99.9% Wilson interval lies above 3x the expected rate (and
# above 1%): strict, because a history with no change at all is judged by this test alone, and a model whose
# real baseline is a few percent (2 failures in 24 turns, configured at 1%) must not read "already failing
# since the history began"; an outage (17 of 20) passes by far.
_Z_EPISODE = 3.2905
_EPISODE_FACTOR = 3.0
_EPISODE_FLOOR = 0.01
# A prior needs at least this many turns behind it; fewer say less than the configured baseline.
_MIN_PRIOR_TRIALS = 10


def history_prior(earlier: Series, expected: float = DEFAULT_BASELINE) -> Prior | None:
    """The prior from a series' own turns before the window: the counts of its last healthy regime.

    The last regime when it is healthy (its 99.9% Wilson interval reaches down to 3x the `expected` rate): an
    outage that ended an hour before the window says nothing about the rate just before it. When the history
    ends in a failure episode (regimes clearly above `expected`), the prior is the healthy regime before the
    episode and `failing_since` is the episode's first turn, so a window inside an outage still reads "failing
    since ...". None when the chosen regime holds fewer than 10 turns (and no episode was seen).
    """
    if earlier.failures.size == 0:
        return None
    edges = [0, *pelt(earlier.failures, earlier.trials), earlier.failures.size]
    regimes = list(itertools.pairwise(edges))
    episode: int | None = None
    while regimes:
        a, b = regimes[-1]
        low, _high = wilson_interval(
            int(earlier.failures[a:b].sum()), int(earlier.trials[a:b].sum()), z=_Z_EPISODE
        )
        if low <= max(_EPISODE_FACTOR * expected, _EPISODE_FLOOR):
            break
        episode = a
        regimes.pop()
    since = datetime.fromtimestamp(float(earlier.times[episode]), tz=UTC) if episode is not None else None
    if regimes and int(earlier.trials[regimes[-1][0] : regimes[-1][1]].sum()) >= _MIN_PRIOR_TRIALS:
        a, b = regimes[-1]
        prior = counts_prior(
            int(earlier.failures[a:b].sum()), int(earlier.trials[a:b].sum()), PriorSource.HISTORY
        )
        return replace(prior, failing_since=since) if prior is not None else None
    if since is not None:
        # Failing for as long as the history goes back: compare with the expected rate (and say so, not
        # "its own turns"), and say since when.
        return replace(baseline_prior(expected), failing_since=since)
    return None


def _first_regime(series: Series) -> tuple[int, int]:
    """(failures, trials) of a series' first regime: its rate before anything changed in the window."""
    changes = pelt(series.failures, series.trials)
    end = changes[0] if changes else series.failures.size
    return int(series.failures[:end].sum()), int(series.trials[:end].sum())


def choose_priors(
    series: Sequence[Series],
    *,
    history: Mapping[tuple[str, str], Prior],
    families: Mapping[str, tuple[str, bool]],
    baseline: Mapping[str, float],
    default_baseline: float = DEFAULT_BASELINE,
) -> dict[tuple[str, str], Prior]:
    """One prior per (model, probe): its own history, else (an alias) its pinned siblings, else its baseline.

    `families` maps a model to (family, alias) when the config is known. A moving alias points at one of its
    pinned versions, so without history it borrows their rate: the first regime of each other pinned model of
    its family with the same probe (what they did before anything changed in the window), pooled, at least 10
    turns. A pinned model never borrows: a sibling's outage is not its baseline. `baseline` holds the
    configured expected failure rates; other models get `default_baseline`.
    """
    chosen: dict[tuple[str, str], Prior] = {}
    for s in series:
        key = (s.model, s.probe)
        prior = history.get(key)
        family, alias = families.get(s.model, ("", False))
        if prior is None and alias:
            pinned = [
                _first_regime(o)
                for o in series
                if o.probe == s.probe and o.model != s.model and families.get(o.model) == (family, False)
            ]
            trials = sum(n for _, n in pinned)
            if trials >= _MIN_PRIOR_TRIALS:
                prior = counts_prior(sum(f for f, _ in pinned), trials, PriorSource.SIBLINGS)
        chosen[key] = prior or baseline_prior(baseline.get(s.model, default_baseline))
    return chosen
