"""Timeline over records: series building, regimes, onsets as times, the cross-model view, wire patterns."""

from __future__ import annotations

from datetime import timedelta

from monitor.analysis.timeline import build_timeline, cross_model, series_from_records, wire_summary
from monitor.probe.outcome import Outcome, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from tests.integration.timeline.records import ALIAS, INTERVAL, PINNED, START, incident_records


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
