"""Accuracy of the change-point mathematics on seeded simulated Bernoulli series (docs/timeline.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.changepoint import (
    MAX_RUNS,
    credible_interval,
    first_event_log_posterior,
    onset_log_posterior,
    pelt,
    penalty,
    segment,
    wilson_interval,
)

BASELINE = 1500
AFTER = 200


def _series(rng: np.random.Generator, sims: int, p0: float, p1: float) -> np.ndarray:
    before = rng.random((sims, BASELINE)) < p0
    after = rng.random((sims, AFTER)) < p1
    return np.concatenate((before, after), axis=1).astype(np.int64)


def _intervals(failures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return credible_interval(onset_log_posterior(failures, np.ones_like(failures)))


def test_onset_interval_for_1011_storm_covers_and_is_narrow() -> None:
    """Incident 000's shape: 1500 turns at 1%, then 200 at 80%."""
    failures = _series(np.random.default_rng(20260527), 200, 0.01, 0.80)
    lo, hi = _intervals(failures)
    coverage = np.mean((lo <= BASELINE) & (hi >= BASELINE))
    width = hi - lo + 1  # probe intervals between the last old-regime probe and the first new-regime one
    assert coverage >= 0.93
    assert np.median(width) <= 3


def test_onset_interval_for_small_shift_covers_at_nominal_rate() -> None:
    """1% -> 10%: wide (median ~80 probe intervals) but honest. 1000 simulations: the standard error of a
    95% coverage is 0.7 pp, so >= 93% (3 standard errors) is the nominal rate within simulation noise."""
    failures = _series(np.random.default_rng(7), 1000, 0.01, 0.10)
    lo, hi = _intervals(failures)
    coverage = np.mean((lo <= BASELINE) & (hi >= BASELINE))
    width = np.median(hi - lo + 1)
    assert coverage >= 0.93
    assert 20 <= width <= 200  # documented as ~80 in docs/timeline.md


def test_pelt_finds_exactly_the_one_change_of_the_1011_storm() -> None:
    failures = _series(np.random.default_rng(3), 200, 0.01, 0.80)
    ones = np.ones(failures.shape[1], dtype=np.int64)
    found = [pelt(row, ones) for row in failures]
    assert sum(len(changes) == 1 for changes in found) >= 0.99 * len(found)
    assert np.median([abs(c[0] - BASELINE) for c in found if c]) <= 1


@pytest.mark.parametrize("rate", [0.01, 0.2])
def test_series_without_change_is_one_regime(rate: float) -> None:
    rng = np.random.default_rng(11)
    failures = (rng.random((200, BASELINE + AFTER)) < rate).astype(np.int64)
    ones = np.ones(failures.shape[1], dtype=np.int64)
    single = sum(not pelt(row, ones) for row in failures)
    assert single >= 0.95 * 200


def test_pelt_recovers_several_regimes() -> None:
    """Onset, recovery and a smaller relapse (docs/detection.md's multi-regime check)."""
    rng = np.random.default_rng(5)
    rates = [(1500, 0.01), (120, 0.8), (300, 0.01), (400, 0.3)]
    failures = np.concatenate([rng.random(n) < p for n, p in rates]).astype(np.int64)
    changes = pelt(failures, np.ones_like(failures))
    assert len(changes) == 3
    # The 1% -> 30% onset is ~15 probes uncertain (the posterior interval's median width), the others ~3.
    for found, truth, tolerance in zip(changes, (1500, 1620, 1920), (3, 3, 30), strict=True):
        assert abs(found - truth) <= tolerance


def test_pelt_on_binned_counts_matches_the_bins() -> None:
    """Prometheus steps: 2 trials per bin; the change is found at the right bin."""
    rng = np.random.default_rng(9)
    trials = np.full(900, 2, dtype=np.int64)
    rate = np.where(np.arange(900) < 750, 0.01, 0.8)
    failures = rng.binomial(trials, rate).astype(np.int64)
    changes = pelt(failures, trials)
    assert len(changes) == 1
    assert abs(changes[0] - 750) <= 1
    lo, hi = credible_interval(onset_log_posterior(failures, trials))
    assert lo <= 750 <= hi


def test_posterior_is_exact_against_direct_lgamma() -> None:
    failures = np.array([0, 0, 1, 0, 1, 1, 1, 0, 1, 1], dtype=np.int64)
    trials = np.ones_like(failures)
    got = np.exp(onset_log_posterior(failures, trials))

    def log_beta(f: int, n: int) -> float:
        return math.lgamma(0.5 + f) + math.lgamma(0.5 + n - f) - math.lgamma(1.0 + n)

    raw = [
        -math.inf
        if k == 0
        else log_beta(int(failures[:k].sum()), k) + log_beta(int(failures[k:].sum()), 10 - k)
        for k in range(10)
    ]
    top = max(raw)
    expected = np.exp(np.array(raw) - top)
    expected /= expected.sum()
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_wilson_interval_matches_the_textbook_value() -> None:
    # 9 of 10 (incident 000's -latest at 17:42): Wilson 95% = 0.596-0.982.
    low, high = wilson_interval(9, 10)
    assert low == pytest.approx(0.5958, abs=1e-4)
    assert high == pytest.approx(0.9821, abs=1e-4)
    low, high = wilson_interval(0, 20)
    assert low == 0.0
    assert high == pytest.approx(0.1611, abs=1e-4)


def test_penalty_grows_with_length() -> None:
    assert penalty(2000) > penalty(200) > 0


def test_long_dense_series_is_grouped_then_refined_to_the_probe() -> None:
    """Above MAX_RUNS runs PELT segments grouped bins, then moves each change to its full-resolution mode."""
    rng = np.random.default_rng(13)
    failures = np.concatenate(
        (rng.random(60_000) < 0.5, rng.random(8_000) < 0.95, rng.random(12_000) < 0.5)
    ).astype(np.int64)
    ones = np.ones_like(failures)
    assert np.count_nonzero(np.diff(failures)) > MAX_RUNS  # the grouped path is the one under test
    changes = pelt(failures, ones)
    assert len(changes) == 2
    assert abs(changes[0] - 60_000) <= 20  # 50% -> 95%: the posterior itself is ~10 probes wide
    assert abs(changes[1] - 68_000) <= 20
    stationary = (rng.random(60_000) < 0.5).astype(np.int64)
    assert pelt(stationary, np.ones_like(stationary)) == []


def test_first_event_posterior_moves_each_position_to_the_next_event_and_keeps_the_mass() -> None:
    """P(first failure = j) sums P(change = k) over the k whose next failure is j; no mass is lost."""
    failures = np.array([0, 0, 1, 0, 1, 1, 0], dtype=np.int64)
    log_post = onset_log_posterior(failures, np.ones_like(failures))
    pushed = np.exp(first_event_log_posterior(log_post, failures > 0))
    raw = np.exp(log_post)
    assert pushed.sum() == pytest.approx(1.0)
    assert pushed[2] == pytest.approx(raw[1:3].sum())
    assert pushed[4] == pytest.approx(raw[3:5].sum())
    assert pushed[5] == pytest.approx(raw[5])
    assert pushed[6] == pytest.approx(raw[6])  # no failure after position 6: its mass stays
    assert pushed[[0, 1, 3]].sum() == 0


def test_first_event_interval_covers_the_true_first_failure_in_short_windows() -> None:
    """10-30 turns at 1%, then 5-20 at 80%, a 1% prior in front: the 95% interval covers the first failure."""
    rng = np.random.default_rng(7)
    covered = total = 0
    widths = []
    for _ in range(400):
        pre, post = int(rng.integers(10, 31)), int(rng.integers(5, 21))
        failures = np.concatenate((rng.random(pre) < 0.01, rng.random(post) < 0.8)).astype(np.int64)
        after = np.flatnonzero(failures[pre:])
        if after.size == 0:
            continue
        f = np.concatenate(([1], failures))
        n = np.concatenate(([100], np.ones_like(failures)))
        log_post = onset_log_posterior(f, n)
        events = np.concatenate(([False], failures > 0))
        lo, hi = credible_interval(first_event_log_posterior(log_post, events))
        truth = pre + int(after[0]) + 1  # +1: bin 0 is the prior
        covered += int(lo <= truth <= hi)
        widths.append(int(hi - lo + 1))
        total += 1
    assert covered / total >= 0.93
    assert np.median(widths) <= 3


def test_segment_with_a_prior_reports_a_change_before_the_first_bin() -> None:
    """A series failing from bin 0 against a 1% prior: a change at position 0, open at the start."""
    failures = np.array([1, 1, 0, 1, 1, 1, 1], dtype=np.int64)
    found = segment(failures, np.ones_like(failures), prior=(1, 100))
    assert found.regimes == ((0, 7),)
    (change,) = found.changes
    assert change.position == 0
    assert change.open_start
    assert change.first == 0
    assert change.rising
    assert segment(failures, np.ones_like(failures)).changes == ()  # without the prior: one regime
