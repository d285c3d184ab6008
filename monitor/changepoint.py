"""Bernoulli change-point mathematics: PELT segmentation, the onset posterior, Wilson intervals.

Everything here works on per-bin counts: `failures[i]` of `trials[i]` at position i. A raw probe series has
one trial per bin; a Prometheus series has one bin per query step. The timeline (`monitor.analysis`) turns
probe records into these arrays and the results back into times, and the daemon's regime tracker
(`monitor.daemon.regime`) runs `segment` on each series' recent turns; this module knows nothing about
records or clocks, so both answer "since when" with the same numbers.

Method (docs/timeline.md has the derivations and the calibration runs):
- Segment cost is minus twice the binomial log-likelihood at the segment's MLE rate, `-2 l(F, N)`.
- PELT (Killick, Fearnhead & Eckley 2012) finds the exact minimum of total cost + PENALTY per change point.
  Because `l(F, N)` is convex in the position of a boundary moved through a run of equal outcomes, an optimal
  boundary never sits inside such a run; PELT therefore only considers run boundaries, which makes a 1% series
  about 50x shorter.
- The onset posterior over a change position is exact: both rates integrated out under Jeffreys Beta(1/2, 1/2)
  priors, uniform prior over the position, `P(k) ~ B(1/2+F1, 1/2+N1-F1) B(1/2+F2, 1/2+N2-F2)`.
- What an on-call engineer asks is when the new regime first showed (the first failure after a rise, the
  first success after a fall): `first_event_log_posterior` pushes the position posterior forward to that
  bin. It is the same posterior, so its intervals are as calibrated, and it never places an onset on a turn
  that looked like the old regime.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "LEVEL",
    "MAX_RUNS",
    "PENALTY_OFFSET",
    "Change",
    "Segmentation",
    "credible_interval",
    "first_event_log_posterior",
    "onset_log_posterior",
    "pelt",
    "penalty",
    "segment",
    "wilson_interval",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# penalty(n) = 2 ln n + PENALTY_OFFSET. Calibrated by benchmarks/penalty_calibration.py so that a series
# with no change is split (falsely) in at most 1% of simulations (measured worst case 0.5%, 400 simulations
# per cell) for n from 200 to 20,000 trials and rates 1%-50%.
PENALTY_OFFSET = 4.0
_Z95 = 1.959963984540054
LEVEL = 0.95
# Above this many runs PELT works on grouped bins and refines each change (see pelt()): about 0.5 s a series.
MAX_RUNS = 5000


def penalty(trials: int) -> float:
    """The PELT penalty per change point for a series of `trials` Bernoulli trials (see PENALTY_OFFSET)."""
    return 2.0 * math.log(max(trials, 2)) + PENALTY_OFFSET


def wilson_interval(failures: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial rate (95% by default); (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    rate = failures / trials
    denominator = 1.0 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _neg2_loglik(failures: FloatArray, trials: FloatArray) -> FloatArray:
    """-2 l(F, N) at the MLE rate, elementwise; 0 for an all-success or all-failure segment."""
    successes = trials - failures
    with np.errstate(divide="ignore", invalid="ignore"):
        term_f = np.where(failures > 0, failures * np.log(failures / trials), 0.0)
        term_s = np.where(successes > 0, successes * np.log(successes / trials), 0.0)
    result: FloatArray = -2.0 * (term_f + term_s)
    return result


def _blocks(failures: IntArray, trials: IntArray) -> IntArray:
    """Indices where a block starts: runs of all-success or all-failure bins are merged into one block."""
    n = failures.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # A bin's "state": 0 all success, 1 all failure, 2+i mixed (never merged with anything).
    state = np.where(failures == 0, 0, np.where(failures == trials, 1, 2 + np.arange(n)))
    starts = np.flatnonzero(np.diff(state, prepend=-1) != 0)
    return starts.astype(np.int64)


def pelt(failures: IntArray, trials: IntArray, beta: float | None = None) -> list[int]:
    """Change points (bin indices where a new regime starts) minimising cost -2l + beta per change.

    `beta` defaults to penalty(total trials). Returns a sorted list, empty when the series has one regime.
    Exact while the series has at most MAX_RUNS runs. Beyond that (a long series at a high failure rate,
    where PELT's pruning is weak and its time quadratic), the segmentation is computed on equal groups of bins
    (at most MAX_RUNS groups) and each change is then moved to its posterior mode at full resolution, within
    its neighbouring regimes.
    """
    failures = np.asarray(failures, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    if failures.size < 2:
        return []
    if beta is None:
        beta = penalty(int(trials.sum()))
    starts = _blocks(failures, trials)
    if starts.size <= MAX_RUNS:
        return _pelt_blocks(failures, trials, starts, beta)
    group = -(-failures.size // MAX_RUNS)
    edges = np.arange(0, failures.size, group)
    grouped_f = np.add.reduceat(failures, edges)
    grouped_n = np.add.reduceat(trials, edges)
    coarse = [int(edges[c]) for c in _pelt_blocks(grouped_f, grouped_n, _blocks(grouped_f, grouped_n), beta)]
    refined: list[int] = []
    for i, change in enumerate(coarse):
        lo = refined[-1] if refined else 0
        hi = coarse[i + 1] if i + 1 < len(coarse) else failures.size
        if hi - lo < 2:
            refined.append(change)
            continue
        refined.append(lo + int(np.argmax(onset_log_posterior(failures[lo:hi], trials[lo:hi]))))
    return refined


def _pelt_blocks(failures: IntArray, trials: IntArray, starts: IntArray, beta: float) -> list[int]:
    """Exact PELT over the boundaries of the given blocks (a block never holds an optimal change)."""
    # Cumulative counts at block boundaries: boundary j sits before block j; boundary m is the end.
    cum_f = np.concatenate(([0], np.cumsum(failures)))
    cum_n = np.concatenate(([0], np.cumsum(trials)))
    bounds = np.concatenate((starts, [failures.size]))
    bf, bn = cum_f[bounds], cum_n[bounds]
    # -2 l(F, N) = -2 (F ln F + S ln S - N ln N): one table of k ln k makes the inner loop three look-ups.
    k = np.arange(int(cum_n[-1]) + 1, dtype=np.float64)
    klogk = k * np.log(np.where(k > 0, k, 1.0))
    m = starts.size
    best = np.empty(m + 1)
    best[0] = -beta
    last = np.zeros(m + 1, dtype=np.int64)
    candidates = np.zeros(1, dtype=np.int64)
    for t in range(1, m + 1):
        seg_f = bf[t] - bf[candidates]
        seg_n = bn[t] - bn[candidates]
        fits = best[candidates] - 2.0 * (klogk[seg_f] + klogk[seg_n - seg_f] - klogk[seg_n])
        i = int(np.argmin(fits))
        best[t] = fits[i] + beta
        last[t] = candidates[i]
        # Pruning: a start that cannot beat best[t] now never will (the cost is superadditive, K = 0).
        candidates = np.append(candidates[fits <= best[t]], t)
    changes: list[int] = []
    t = m
    while t > 0:
        t = int(last[t])
        if t > 0:
            changes.append(int(bounds[t]))
    return sorted(changes)


def _log_gamma_tables(size: int) -> tuple[FloatArray, FloatArray]:
    """lgamma(1/2 + k) and lgamma(1 + k) for k = 0..size, by the recurrence lgamma(x+1) = lgamma(x) + ln x."""
    k = np.arange(size, dtype=np.float64)
    half = np.concatenate(([math.lgamma(0.5)], math.lgamma(0.5) + np.cumsum(np.log(0.5 + k))))
    whole = np.concatenate(([0.0], np.cumsum(np.log(1.0 + k))))
    return half, whole


def onset_log_posterior(failures: IntArray, trials: IntArray) -> FloatArray:
    """Normalised log posterior over the change position, for one change in the given bins.

    Accepts 1-D arrays (one series) or 2-D arrays (one series per row, for simulation). Entry k (1 <= k < n)
    is the log probability that bin k is the first bin of the new regime; entry 0 is -inf (both sides must be
    non-empty). Rates are integrated out under Beta(1/2, 1/2) priors; the position prior is uniform.
    """
    f = np.atleast_2d(np.asarray(failures, dtype=np.int64))
    n = np.atleast_2d(np.asarray(trials, dtype=np.int64))
    zero = np.zeros((f.shape[0], 1), dtype=np.int64)
    cum_f = np.concatenate((zero, np.cumsum(f, axis=1)), axis=1)
    cum_n = np.concatenate((zero, np.cumsum(n, axis=1)), axis=1)
    total_f, total_n = cum_f[:, -1:], cum_n[:, -1:]
    half, whole = _log_gamma_tables(int(total_n.max()) + 1)

    def log_beta(fails: IntArray, count: IntArray) -> FloatArray:
        result: FloatArray = half[fails] + half[count - fails] - whole[count]
        return result

    left_f, left_n = cum_f[:, :-1], cum_n[:, :-1]
    log_post = log_beta(left_f, left_n) + log_beta(total_f - left_f, total_n - left_n)
    log_post[:, 0] = -np.inf
    log_post -= np.logaddexp.reduce(log_post, axis=1, keepdims=True)
    if np.ndim(failures) == 1:
        return np.asarray(log_post[0])
    return np.asarray(log_post)


def credible_interval(log_posterior: FloatArray, level: float = 0.95) -> tuple[IntArray, IntArray]:
    """Equal-tailed interval [lo, hi] of positions holding at least `level` of the posterior mass.

    Works row-wise on 2-D input; returns arrays (shape () for 1-D input). lo is the first position whose
    cumulative mass exceeds (1-level)/2 and hi the first whose mass reaches (1+level)/2, so the closed
    interval holds at least `level`.
    """
    cdf = np.cumsum(np.exp(log_posterior), axis=-1)
    cdf /= cdf[..., -1:]
    tail = (1.0 - level) / 2.0
    lo = np.argmax(cdf > tail, axis=-1)
    hi = np.argmax(cdf >= 1.0 - tail - 1e-12, axis=-1)
    return lo.astype(np.int64), hi.astype(np.int64)


def first_event_log_posterior(log_posterior: FloatArray, events: npt.NDArray[np.bool_]) -> FloatArray:
    """The posterior of the first event bin at or after the change, from the posterior of the change position.

    `events[i]` marks bins showing the new regime (a failure after a rise, a success after a fall). Position k
    maps to the first event bin at or after k; mass on positions with no event after them stays where it is
    (the new regime has not shown yet). Exact: P(j) is the sum of P(k) over the k that map to j. 1-D only.
    """
    n = log_posterior.size
    index = np.arange(n)
    marked = np.where(events, index, n)
    # The first event at or after k: a reversed running minimum of the marked positions.
    following = np.minimum.accumulate(marked[::-1])[::-1]
    target = np.where(following < n, following, index)
    mass = np.bincount(target, weights=np.exp(log_posterior), minlength=n)
    with np.errstate(divide="ignore"):
        result: FloatArray = np.log(mass)
    return result


@dataclass(frozen=True, slots=True)
class Change:
    """One change, in bin indices of the series: its new regime first showed in a bin of [first, last].

    `position` is PELT's first bin of the new regime; `mode` the most likely first event bin (a failure after
    a rise, a success after a fall). `open_start`: `first` is bin 0 and the bins had a prior in front, so the
    change may be older than the series; position 0 is a change between the prior and bin 0.
    """

    position: int
    first: int
    last: int
    mode: int
    rate_before: float
    rate_after: float
    open_start: bool

    @property
    def rising(self) -> bool:
        return self.rate_after > self.rate_before


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Regimes as [start, end) bin ranges of the series (the prior never counts), and the changes between."""

    regimes: tuple[tuple[int, int], ...]
    changes: tuple[Change, ...]


def segment(
    failures: IntArray,
    trials: IntArray,
    *,
    prior: tuple[int, int] | None = None,
    beta: float | None = None,
) -> Segmentation:
    """PELT regimes and a 95% interval for each change's first event, optionally with a prior bin in front.

    `prior` is (failures, trials) known before bin 0: one extra bin that PELT and the posterior both see, so
    it informs the first regime's rate. Each change's posterior is computed within its neighbouring regimes
    and pushed forward to the first event bin (`first_event_log_posterior`).
    """
    failures = np.asarray(failures, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    offset = 1 if prior is not None and prior[1] > 0 else 0
    if offset:
        assert prior is not None
        failures = np.concatenate(([prior[0]], failures)).astype(np.int64)
        trials = np.concatenate(([prior[1]], trials)).astype(np.int64)
    if failures.size - offset <= 0:
        return Segmentation((), ())
    edges = [0, *pelt(failures, trials, beta), failures.size]
    regimes = tuple(
        (max(a, offset) - offset, b - offset) for a, b in itertools.pairwise(edges) if b > max(a, offset)
    )
    changes = tuple(
        _locate(failures, trials, (edges[i - 1], edges[i], edges[i + 1]), offset)
        for i in range(1, len(edges) - 1)
    )
    return Segmentation(regimes, changes)


def _locate(failures: IntArray, trials: IntArray, bounds: tuple[int, int, int], offset: int) -> Change:
    """The change at bounds[1] within bins [bounds[0], bounds[2]) (indices include the prior bin, if any)."""
    lo, change, hi = bounds
    f, n = failures[lo:hi], trials[lo:hi]
    k = change - lo
    # The old regime's rate from the series' own bins when it has any; a prior-only old regime: the prior's.
    own = offset if lo == 0 and k > offset else 0
    before = float(f[own:k].sum() / max(int(n[own:k].sum()), 1))
    after = float(f[k:].sum() / max(int(n[k:].sum()), 1))
    events = f > 0 if after > before else f < n
    log_post = first_event_log_posterior(onset_log_posterior(f, n), events)
    first, last = (int(x) + lo - offset for x in credible_interval(log_post, LEVEL))
    mode = int(np.argmax(log_post)) + lo - offset
    return Change(
        position=change - offset,
        first=max(first, 0),
        last=max(last, first, 0),
        mode=max(mode, 0),
        rate_before=before,
        rate_after=after,
        open_start=offset == 1 and first <= 0,
    )
