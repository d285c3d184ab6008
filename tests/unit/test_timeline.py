"""Timeline over records: series building, regimes, onsets as times, the cross-model view, wire patterns."""

from __future__ import annotations

from datetime import timedelta

from monitor.analysis.prior import (
    DEFAULT_BASELINE,
    Prior,
    PriorSource,
    baseline_prior,
    choose_priors,
    counts_prior,
    history_prior,
)
from monitor.analysis.timeline import Series, build_timeline, cross_model, series_from_records
from monitor.analysis.wire import wire_summary
from monitor.probe.outcome import Outcome, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from tests.integration.timeline.records import (
    ALIAS,
    INTERVAL,
    PINNED,
    START,
    incident_records,
    sequence_records,
)


def test_series_are_ordered_and_prober_errors_excluded() -> None:
    records = list(reversed(incident_records()))
    series = {s.model: s for s in series_from_records(records)}
    alias = series[ALIAS]
    assert alias.excluded == 1
    assert alias.trials.sum() == 400
    assert (alias.times[1:] > alias.times[:-1]).all()
    assert alias.classes == ("server_close 1011",)
    assert series[PINNED].failures.sum() == 0


def test_regimes_and_onset_are_reported_in_time() -> None:
    series = {s.model: s for s in series_from_records(incident_records())}
    timeline = build_timeline(series[ALIAS])
    before, after = timeline.regimes
    assert before.start == START
    assert after.end == START + 399 * INTERVAL
    assert before.trials + after.trials == 400
    assert before.rate_low <= before.rate <= before.rate_high
    assert after.rate > 0.7
    (onset,) = timeline.onsets
    truth = START + 300 * INTERVAL
    assert onset.after < truth <= onset.before
    assert onset.before - onset.after <= 4 * INTERVAL
    assert onset.rising
    assert onset.precise


def test_cross_model_names_the_clean_pinned_model() -> None:
    all_series = series_from_records(incident_records())
    timelines = [build_timeline(s) for s in all_series]
    (change,) = cross_model(timelines, all_series)
    assert [(m, p) for m, p, _ in change.changed] == [(ALIAS, "text")]
    (pinned,) = [w for w in change.window if w.model == PINNED]
    assert not pinned.changed
    assert pinned.failures == 0
    assert pinned.trials >= 99


def _failed(recovery: RecoveryKind | None, failure_seconds: float) -> ProbeResult:
    return ProbeResult(
        run_id=f"f{failure_seconds}",
        started_at=START,
        vantage="v",
        endpoint="e",
        model=ALIAS,
        probe=ProbeKind.TEXT,
        outcome=Outcome.SERVER_CLOSE,
        code=1011,
        timings={TimingPhase.SETUP: 0.3, TimingPhase.FAILURE: failure_seconds},
        messages=(("setupComplete", -0.1), ("sessionResumptionUpdate", 0.05), ("close", failure_seconds)),
        recovery=Recovery(kind=recovery, outcome=RecoveryOutcome.OK, seconds=1.0) if recovery else None,
    )


def test_wire_patterns_mark_empty_updates_and_compact_streams() -> None:
    ok = ProbeResult(
        run_id="ok",
        started_at=START + timedelta(seconds=1),
        vantage="v",
        endpoint="e",
        model=PINNED,
        probe=ProbeKind.TEXT,
        outcome=Outcome.OK,
        timings={TimingPhase.SETUP: 0.2},
        messages=(
            ("setupComplete", -0.1),
            ("serverContent.modelTurn", 0.4),
            ("serverContent.outputTranscription", 0.5),
            ("serverContent.modelTurn", 0.6),
            ("serverContent.turnComplete", 1.0),
            ("close", 1.1),
        ),
    )
    records = [_failed(RecoveryKind.FRESH, 0.2), _failed(RecoveryKind.FRESH, 3.0), _failed(None, 1.0), ok]
    wire = wire_summary(records)
    assert wire.failure_total == 3
    assert [(p.sequence, p.count) for p in wire.failures] == [
        ("setupComplete → sessionResumptionUpdate {} → close 1011", 2),
        ("setupComplete → sessionResumptionUpdate → close 1011", 1),
    ]
    assert [p.sequence for p in wire.successes] == [
        "setupComplete → serverContent{modelTurn, outputTranscription} → serverContent.turnComplete → close"
    ]
    assert wire.failure_delay == (0.2, 1.0, 3.0)
    assert wire.setup_delay == (0.2, 0.3, 0.3)


# -- short and fresh windows: the prior -------------------------------------------------------------------

MINUTE = timedelta(minutes=1)


def _series(outcomes: str) -> Series:
    (series,) = series_from_records(sequence_records(ALIAS, outcomes))
    return series


def test_three_good_then_five_failed_brackets_the_onset_between_last_ok_and_first_failure() -> None:
    """3 ok then 5 failed turns a minute apart: the onset interval never reaches back over a success."""
    timeline = build_timeline(_series("...xxxxx"), prior=baseline_prior(DEFAULT_BASELINE))
    (onset,) = timeline.onsets
    assert (onset.after, onset.before) == (START + 2 * MINUTE, START + 3 * MINUTE)
    assert onset.most_likely == START + 3 * MINUTE
    assert onset.width_bins == 1
    assert not onset.open_start


def test_without_a_prior_the_same_turns_give_a_wide_interval() -> None:
    """Jeffreys priors on both sides (nothing known before the window) leave the issue's wide interval."""
    (onset,) = build_timeline(_series("...xxxxx")).onsets
    assert onset.before - onset.after >= 3 * MINUTE


def test_the_demo_series_with_a_success_inside_the_failures_is_a_change() -> None:
    """ok, ok, ok, 1011, 1011, ok, 1011, 1011 (the issue's 'unchanged' series) has an onset after turn 3."""
    assert not build_timeline(_series("...xx.xx")).onsets  # what the report said before: one regime
    timeline = build_timeline(_series("...xx.xx"), prior=baseline_prior(DEFAULT_BASELINE))
    (onset,) = timeline.onsets
    assert (onset.after, onset.before) == (START + 2 * MINUTE, START + 3 * MINUTE)
    assert [r.trials for r in timeline.regimes] == [3, 5]


def test_a_window_failing_from_its_first_turn_is_failing_since_at_least_that_turn() -> None:
    """A window above the baseline throughout: a leading onset at its first turn, open at the start."""
    timeline = build_timeline(_series("xx.xxxx.x"), prior=baseline_prior(DEFAULT_BASELINE))
    assert timeline.leading is not None
    assert timeline.leading.open_start
    assert timeline.leading.after == START
    assert timeline.leading.rising
    assert not timeline.onsets
    assert len(timeline.regimes) == 1
    assert timeline.regimes[0].trials == 9
    (change,) = cross_model([timeline], [_series("xx.xxxx.x")])
    (window,) = change.window
    assert (window.failures, window.trials) == (7, 9)  # the window's first turn is counted


def test_a_clean_window_against_the_baseline_stays_one_regime() -> None:
    """Thirty clean turns with the 1% baseline prior: no change, no leading onset."""
    timeline = build_timeline(_series("." * 30), prior=baseline_prior(DEFAULT_BASELINE))
    assert timeline.changes == ()
    assert [r.trials for r in timeline.regimes] == [30]


def test_history_prior_uses_the_last_regime_before_the_window() -> None:
    """An outage that ended before the window does not raise the prior: only the last regime counts."""
    earlier = _series("." * 50 + "x" * 30 + "." * 60)
    prior = history_prior(earlier)
    assert prior is not None
    assert prior.source is PriorSource.HISTORY
    assert prior.failures == 0
    assert prior.trials == 60
    assert history_prior(_series("....")) is None  # too few turns to say anything


def test_a_window_inside_an_outage_that_began_before_it_says_since_when() -> None:
    """History ending in an outage: the prior is the healthy regime before it, with the outage's start."""
    earlier = _series("." * 40 + "x" * 20)
    prior = history_prior(earlier)
    assert prior is not None
    assert (prior.failures, prior.trials, prior.source) == (0, 40, PriorSource.HISTORY)
    assert prior.failing_since == START + 40 * MINUTE
    timeline = build_timeline(_series("xxxxxx"), prior=prior)
    assert timeline.leading is not None
    assert timeline.leading.open_start
    # Failing for as long as the history goes back: the expected rate, and the history's first turn.
    always = history_prior(_series("x" * 30))
    assert always is not None
    assert (always.failures, always.trials, always.failing_since) == (1, 100, START)


def test_priors_come_from_history_then_pinned_siblings_then_the_baseline() -> None:
    """Own history wins; an alias without history borrows its pinned siblings' counts; else the baseline."""
    alias = _series("...xx")
    (pinned,) = series_from_records(sequence_records(PINNED, "." * 20))
    other = Series("other", "text", alias.times, alias.trials, alias.failures)
    families = {ALIAS: ("flash", True), PINNED: ("flash", False)}
    own = counts_prior(1, 400, PriorSource.HISTORY)
    assert own is not None
    chosen = choose_priors(
        [alias, pinned, other], history={(PINNED, "text"): own}, families=families, baseline={"other": 0.05}
    )
    assert chosen[(PINNED, "text")] == Prior(0, 200, PriorSource.HISTORY)  # scaled to 200 turns, same rate
    assert chosen[(ALIAS, "text")] == Prior(0, 20, PriorSource.SIBLINGS)
    assert chosen[("other", "text")] == Prior(5, 100, PriorSource.BASELINE)


def test_a_pinned_model_never_borrows_a_failing_siblings_rate() -> None:
    """Pinned models keep the baseline; an alias borrows its pinned siblings' first regime, not an outage."""
    (clean,) = series_from_records(sequence_records(PINNED, "." * 20))
    (failing,) = series_from_records(sequence_records("pinned-12", "." * 10 + "x" * 10))
    alias = _series("." * 20)
    families = {ALIAS: ("flash", True), PINNED: ("flash", False), "pinned-12": ("flash", False)}
    chosen = choose_priors([alias, clean, failing], history={}, families=families, baseline={})
    assert chosen[(PINNED, "text")].source is PriorSource.BASELINE
    assert chosen[("pinned-12", "text")].source is PriorSource.BASELINE
    assert chosen[(ALIAS, "text")] == Prior(
        0, 30, PriorSource.SIBLINGS
    )  # 20 clean + the 10 before the outage


def test_series_failing_from_their_first_turns_change_together() -> None:
    """Open-start onsets reach back before the window: staggered probes failing throughout are one group."""
    prior = baseline_prior(DEFAULT_BASELINE)
    text = _series("xxxxxxxx")
    (audio,) = series_from_records(sequence_records(PINNED, "xx.xxxxx", start=START + timedelta(seconds=5)))
    timelines = [build_timeline(s, prior=prior) for s in (text, audio)]
    assert all(t.leading is not None and t.leading.open_start for t in timelines)
    (change,) = cross_model(timelines, [text, audio])
    assert {model for model, _, _ in change.changed} == {ALIAS, PINNED}
    assert all(w.changed for w in change.window)


def test_a_history_a_little_above_the_expected_rate_is_not_an_outage() -> None:
    """2 failures in 24 turns against 1% expected: the history itself is the prior, no 'already failing'."""
    prior = history_prior(_series("." * 15 + "x" + "." * 4 + "x" + "." * 4))
    assert prior is not None
    assert (prior.failures, prior.trials, prior.failing_since) == (2, 25, None)
