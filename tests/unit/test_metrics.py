"""ProbeMetrics: what one probe result does to the exported samples, read back with get_sample_value."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from monitor import __version__
from monitor.daemon.metrics import ModelInfo, ProbeMetrics, SkipReason, code_label
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, ok_turn

AT = datetime(2026, 5, 27, 17, 42, 0, 123000, tzinfo=UTC)
JOB = {"endpoint": ENDPOINT, "model": ALIAS, "probe": "text"}
OK_LABELS = {**JOB, "outcome": "ok", "cause": "none", "code": "", "phase": ""}
INCIDENT_LABELS = {
    **JOB,
    "outcome": "server_close",
    "cause": "internal",
    "code": "1011",
    "phase": "first_response",
}


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ProbeMetrics:
    probe_metrics = ProbeMetrics(registry)
    probe_metrics.register_targets(
        ENDPOINT,
        [
            ModelInfo(ALIAS, "gemini-2.5-flash-native-audio", alias=True),
            ModelInfo(PINNED, "gemini-2.5", False),
        ],
        [ProbeKind.TEXT, ProbeKind.AUDIO],
    )
    return probe_metrics


def value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


class TestRegisterTargets:
    def test_alert_read_series_exist_at_zero_before_any_turn(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        """Rates over the ok and the 1011 series exist from the start, for every model and probe."""
        for model in (ALIAS, PINNED):
            for probe in ("text", "audio"):
                job = {**JOB, "model": model, "probe": probe}
                ok = {**OK_LABELS, **job}
                incident = {**INCIDENT_LABELS, **job}
                assert value(registry, "gemini_live_probe_turns_total", ok) == 0
                assert value(registry, "gemini_live_probe_turns_total", incident) == 0
                for kind in ("fresh", "resumed"):
                    for outcome in ("ok", "failed"):
                        labels = {**job, "kind": kind, "outcome": outcome}
                        assert value(registry, "gemini_live_probe_recoveries_total", labels) == 0
                for direction in ("prompt", "response"):
                    labels = {**job, "direction": direction}
                    assert value(registry, "gemini_live_probe_tokens_total", labels) == 0
                for phase in ("connect", "setup", "first_response", "first_audio", "turn"):
                    labels = {**job, "phase": phase}
                    # No rule or panel reads a phase before a turn reached it: created by the first turn.
                    assert value(registry, "gemini_live_probe_phase_seconds_count", labels) is None

    def test_success_gauges_stay_absent_until_observed(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        """A 0 before the first turn would claim a failure nobody saw."""
        assert value(registry, "gemini_live_probe_success", JOB) is None
        assert value(registry, "gemini_live_probe_last_success_timestamp_seconds", JOB) is None

    def test_model_info_build_info_skips_and_inflight(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        alias = {"model": ALIAS, "family": "gemini-2.5-flash-native-audio", "alias": "true"}
        assert value(registry, "gemini_live_model_info", alias) == 1
        pinned = {"model": PINNED, "family": "gemini-2.5", "alias": "false"}
        assert value(registry, "gemini_live_model_info", pinned) == 1
        assert value(registry, "gemini_live_monitor_build_info", {"version": __version__}) == 1
        for reason in ("overlap", "quota", "shutdown"):
            assert value(registry, "gemini_live_monitor_skipped_total", {"reason": reason}) == 0
        assert value(registry, "gemini_live_monitor_inflight_sessions", {"endpoint": ENDPOINT}) == 0

    def test_library_code_never_touches_the_global_registry(self, metrics: ProbeMetrics) -> None:
        assert not [name for name in REGISTRY._names_to_collectors if name.startswith("gemini_live")]

    def test_two_instances_on_two_registries_do_not_clash(self) -> None:
        first, second = CollectorRegistry(), CollectorRegistry()
        ProbeMetrics(first).observe(ok_turn(AT, model=ALIAS))
        ProbeMetrics(second)
        assert value(first, "gemini_live_probe_turns_total", OK_LABELS) == 1
        assert value(second, "gemini_live_probe_turns_total", OK_LABELS) is None


class TestObserve:
    def test_incident_000_failure(self, registry: CollectorRegistry, metrics: ProbeMetrics) -> None:
        """server_close/internal/1011/first_response: counted, failure time observed, success gauge 0."""
        metrics.observe(incident_000_failure(AT))
        assert value(registry, "gemini_live_probe_turns_total", INCIDENT_LABELS) == 1
        assert value(registry, "gemini_live_probe_turns_total", OK_LABELS) == 0
        assert value(registry, "gemini_live_probe_failure_seconds_count", JOB) == 1
        assert value(registry, "gemini_live_probe_failure_seconds_sum", JOB) == pytest.approx(1.87)
        assert value(registry, "gemini_live_probe_failure_seconds_bucket", {**JOB, "le": "1.0"}) == 0
        assert value(registry, "gemini_live_probe_failure_seconds_bucket", {**JOB, "le": "2.5"}) == 1
        assert value(registry, "gemini_live_probe_success", JOB) == 0
        assert value(registry, "gemini_live_probe_last_success_timestamp_seconds", JOB) is None

    def test_only_phases_reached_are_observed(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        metrics.observe(incident_000_failure(AT))
        counts = {
            phase: value(registry, "gemini_live_probe_phase_seconds_count", {**JOB, "phase": phase})
            for phase in ("connect", "setup", "first_response", "first_audio", "turn")
        }
        # A phase no turn reached has no series yet (it would only be zeros).
        assert counts == {"connect": 1, "setup": 1, "first_response": None, "first_audio": None, "turn": None}
        setup_sum = value(registry, "gemini_live_probe_phase_seconds_sum", {**JOB, "phase": "setup"})
        assert setup_sum == pytest.approx(0.312)

    def test_ok_turn(self, registry: CollectorRegistry, metrics: ProbeMetrics) -> None:
        """Every phase observed, success 1, last success = started_at, tokens by direction."""
        metrics.observe(incident_000_failure(AT))
        metrics.observe(ok_turn(AT, model=ALIAS, first_audio=0.62))
        assert value(registry, "gemini_live_probe_turns_total", OK_LABELS) == 1
        first_audio = {**JOB, "phase": "first_audio"}
        assert value(registry, "gemini_live_probe_phase_seconds_bucket", {**first_audio, "le": "0.5"}) == 0
        assert value(registry, "gemini_live_probe_phase_seconds_bucket", {**first_audio, "le": "0.75"}) == 1
        assert value(registry, "gemini_live_probe_phase_seconds_count", {**JOB, "phase": "turn"}) == 1
        assert value(registry, "gemini_live_probe_success", JOB) == 1
        assert value(registry, "gemini_live_probe_last_success_timestamp_seconds", JOB) == AT.timestamp()
        assert value(registry, "gemini_live_probe_tokens_total", {**JOB, "direction": "prompt"}) == 23
        assert value(registry, "gemini_live_probe_tokens_total", {**JOB, "direction": "response"}) == 61
        assert value(registry, "gemini_live_probe_failure_seconds_count", JOB) == 1

    def test_prober_error_is_counted_but_never_judges_the_provider(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        metrics.observe(ok_turn(AT, model=ALIAS))
        bug = ProbeResult(
            run_id="bug-1",
            started_at=datetime(2026, 5, 27, 17, 43, tzinfo=UTC),
            vantage="v",
            endpoint=ENDPOINT,
            model=ALIAS,
            probe=ProbeKind.TEXT,
            outcome=Outcome.PROBER_ERROR,
            cause=Cause.UNKNOWN,
            phase=Phase.SETUP,
            timings={TimingPhase.CONNECT: 0.05, TimingPhase.FAILURE: 0.4},
            detail="KeyError: 'x' in the probe",
        )
        metrics.observe(bug)
        labels = {**JOB, "outcome": "prober_error", "cause": "unknown", "code": "", "phase": "setup"}
        assert value(registry, "gemini_live_probe_turns_total", labels) == 1
        assert value(registry, "gemini_live_probe_success", JOB) == 1
        assert value(registry, "gemini_live_probe_last_success_timestamp_seconds", JOB) == AT.timestamp()
        assert value(registry, "gemini_live_probe_failure_seconds_count", JOB) is None
        # The connect it measured was real, so the phase histogram keeps it.
        assert value(registry, "gemini_live_probe_phase_seconds_count", {**JOB, "phase": "connect"}) == 2

    def test_handshake_status_becomes_the_code_label(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        rejected = replace(
            incident_000_failure(AT),
            outcome=Outcome.HANDSHAKE_REJECTED,
            cause=Cause.QUOTA,
            code=429,
            phase=Phase.CONNECT,
            messages=(),
            timings={TimingPhase.FAILURE: 0.2},
        )
        metrics.observe(rejected)
        labels = {**JOB, "outcome": "handshake_rejected", "cause": "quota", "code": "429", "phase": "connect"}
        assert value(registry, "gemini_live_probe_turns_total", labels) == 1
        assert code_label(None) == ""
        assert code_label(1011) == "1011"

    @pytest.mark.parametrize(
        ("kind", "outcome", "seconds_observed"),  # None: no series until a recovery succeeds
        [
            pytest.param(RecoveryKind.RESUMED, RecoveryOutcome.OK, 1, id="resumed-ok"),
            pytest.param(
                RecoveryKind.FRESH, RecoveryOutcome.FAILED, None, id="fresh-failed-has-no-recovery-time"
            ),
        ],
    )
    def test_recovery(
        self,
        registry: CollectorRegistry,
        metrics: ProbeMetrics,
        kind: RecoveryKind,
        outcome: RecoveryOutcome,
        seconds_observed: int | None,
    ) -> None:
        recovery = Recovery(kind=kind, outcome=outcome, seconds=1.3)
        metrics.observe(incident_000_failure(AT, recovery=recovery))
        labels = {**JOB, "kind": kind.value, "outcome": outcome.value}
        assert value(registry, "gemini_live_probe_recoveries_total", labels) == 1
        kind_labels = {**JOB, "kind": kind.value}
        assert value(registry, "gemini_live_probe_recovery_seconds_count", kind_labels) == seconds_observed
        # The recovery never turns the failed turn into a success.
        assert value(registry, "gemini_live_probe_success", JOB) == 0

    def test_unregistered_model_is_still_counted(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        metrics.observe(ok_turn(AT, model="gemini-live-2.5-flash-preview"))
        labels = {**OK_LABELS, "model": "gemini-live-2.5-flash-preview"}
        assert value(registry, "gemini_live_probe_turns_total", labels) == 1


class TestMonitorHealth:
    def test_schedule_lag_buckets_and_negative_clamp(
        self, registry: CollectorRegistry, metrics: ProbeMetrics
    ) -> None:
        metrics.observe_schedule_lag(0.004)
        metrics.observe_schedule_lag(-0.002)  # woke up early: not a negative lag
        name = "gemini_live_monitor_schedule_lag_seconds"
        assert value(registry, f"{name}_bucket", {"le": "0.001"}) == 1
        assert value(registry, f"{name}_bucket", {"le": "0.005"}) == 2
        assert value(registry, f"{name}_sum") == pytest.approx(0.004)

    def test_count_skipped(self, registry: CollectorRegistry, metrics: ProbeMetrics) -> None:
        metrics.count_skipped(SkipReason.OVERLAP)
        metrics.count_skipped(SkipReason.OVERLAP)
        metrics.count_skipped(SkipReason.SHUTDOWN)
        assert value(registry, "gemini_live_monitor_skipped_total", {"reason": "overlap"}) == 2
        assert value(registry, "gemini_live_monitor_skipped_total", {"reason": "shutdown"}) == 1
        assert value(registry, "gemini_live_monitor_skipped_total", {"reason": "quota"}) == 0

    def test_inflight_tracks_open_sessions(self, registry: CollectorRegistry, metrics: ProbeMetrics) -> None:
        gauge = metrics.inflight.labels(endpoint=ENDPOINT)
        with gauge.track_inprogress():
            assert value(registry, "gemini_live_monitor_inflight_sessions", {"endpoint": ENDPOINT}) == 1
        assert value(registry, "gemini_live_monitor_inflight_sessions", {"endpoint": ENDPOINT}) == 0
