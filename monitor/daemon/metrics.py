"""ProbeMetrics: owns every Prometheus metric of the monitor and turns probe results into samples.

The metric names, types and labels are docs/metrics.md's table (namespace `gemini_live`, base units), plus
`gemini_live_monitor_inflight_sessions{endpoint}` for the monitor-health dashboard. `docs/metrics.md` explains
each metric, its buckets and the label value conventions. The registry is always injected: library code never
touches prometheus_client's global default registry, so tests and the daemon each own theirs.

Label value conventions (shared with the alert rules and dashboards):
- `code` is the integer as a string ("1011", "429"), or "" when the record's code is null.
- `phase` on `probe_turns_total` is the failure Phase value ("" for ok); `phase` on `probe_phase_seconds` is a
  measured interval: connect | setup | first_response | first_audio | turn.
- `alias` on `model_info` is "true" or "false".

What a result means for the gauges: `probe_success` and `probe_last_success_timestamp_seconds` describe the
provider, so a `prober_error` turn (our own bug) leaves them unchanged; it is still counted in
`probe_turns_total`, where its outcome label tells it apart. The last-success timestamp is the turn's
`started_at` (the wall clock the store and the status page show), not the moment the turn ended: the two
differ by one turn's duration, which no alert threshold can see, and the gauge can be recomputed from records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor import __version__
from monitor.daemon.regime import RegimeTracker
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, RecoveryKind, RecoveryOutcome

__all__ = [
    "FAILURE_BUCKETS",
    "PHASE_BUCKETS",
    "RECOVERY_BUCKETS",
    "SCHEDULE_LAG_BUCKETS",
    "ModelInfo",
    "ProbeMetrics",
    "SkipReason",
    "code_label",
]

NAMESPACE: Final = "gemini_live"

# One bucket set serves all five phases, so it spans the fastest connect (tens of ms on a warm path) to the
# slowest full audio turn (tens of seconds). It is densest between 0.2 s and 3 s, where setup, first response
# and first audio normally sit and where a latency regression first shows; doubling-ish steps elsewhere.
PHASE_BUCKETS: Final = (
    0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip
# Turn sent (or connect start) to the failure. Incident 000's 1011s came 0.2-3 s after the turn; timeouts sit
# at the phase budgets (10-30 s by default); 60 s bounds the longest budget sum.
FAILURE_BUCKETS: Final = (
    0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
# Failure to a working session again (reconnect + setup, plus the resumed turn). Incident 001's "noticeable
# gap" is seconds; the upper buckets catch backoff-driven recoveries.
RECOVERY_BUCKETS: Final = (
    0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
)  # fmt: skip
# Due time to actual start of a job. Healthy lag is about a millisecond; the target is p99 < 50 ms,
# so buckets are dense up to 0.1 s; a blocked event loop shows up in the seconds buckets.
SCHEDULE_LAG_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# The intervals exported by probe_phase_seconds: every measured timing except `failure`, which has its own.
_PHASE_TIMINGS: Final = tuple(p for p in TimingPhase if p is not TimingPhase.FAILURE)

_JOB_LABELS: Final = ("endpoint", "model", "probe")


class SkipReason(StrEnum):
    """Why a scheduled probe run did not happen; the `reason` label of `monitor_skipped_total`."""

    OVERLAP = "overlap"  # the previous run of the same job was still going
    QUOTA = "quota"  # the session budget (per minute, per day or concurrent) was spent
    SHUTDOWN = "shutdown"  # the daemon stopped before or during the run


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A configured model, as `gemini_live_model_info` exports it."""

    model: str
    family: str
    alias: bool  # True for a moving alias such as `...-latest`, False for a pinned version


def code_label(code: int | None) -> str:
    """The `code` label value: the integer as a string, or "" for a null code."""
    return "" if code is None else str(code)


class ProbeMetrics:
    """Every metric of the monitor, registered on the injected registry."""

    def __init__(
        self, registry: CollectorRegistry, *, version: str = __version__, regimes: RegimeTracker | None = None
    ) -> None:
        def counter(name: str, doc: str, labels: Sequence[str]) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=registry)

        def gauge(name: str, doc: str, labels: Sequence[str]) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=registry)

        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, labels, namespace=NAMESPACE, registry=registry, buckets=buckets)

        self.turns = counter(
            "probe_turns_total",
            "Probe turns by outcome, cause, close code or HTTP status, and the phase where they failed.",
            (*_JOB_LABELS, "outcome", "cause", "code", "phase"),
        )
        self.phase_seconds = histogram(
            "probe_phase_seconds",
            "Duration of each phase a probe turn reached: connect, setup, first_response, first_audio, turn.",
            (*_JOB_LABELS, "phase"),
            PHASE_BUCKETS,
        )
        self.failure_seconds = histogram(
            "probe_failure_seconds",
            "Turn sent (or connect start, if earlier) to the failure, for failed provider turns.",
            _JOB_LABELS,
            FAILURE_BUCKETS,
        )
        self.success = gauge(
            "probe_success", "1 if the last provider-judged probe turn succeeded, else 0.", _JOB_LABELS
        )
        self.last_success = gauge(
            "probe_last_success_timestamp_seconds",
            "Unix time (started_at) of the last successful probe turn.",
            _JOB_LABELS,
        )
        self.recoveries = counter(
            "probe_recoveries_total",
            "Recovery attempts after a failed turn, by how they reconnected and whether they worked.",
            (*_JOB_LABELS, "kind", "outcome"),
        )
        self.recovery_seconds = histogram(
            "probe_recovery_seconds",
            "Failure to a working session again, per recovery kind (successful recoveries only).",
            (*_JOB_LABELS, "kind"),
            RECOVERY_BUCKETS,
        )
        self.tokens = counter(
            "probe_tokens_total",
            "Tokens reported by the server's usageMetadata, by direction.",
            (*_JOB_LABELS, "direction"),
        )
        self.model_info = gauge(
            "model_info",
            "Configured models: 1 per model, with its family and alias flag.",
            ("model", "family", "alias"),
        )
        self.schedule_lag = histogram(
            "monitor_schedule_lag_seconds",
            "Due time to actual start of a probe job.",
            (),
            SCHEDULE_LAG_BUCKETS,
        )
        self.skipped = counter(
            "monitor_skipped_total", "Scheduled probe runs that did not happen, by reason.", ("reason",)
        )
        self.inflight = gauge(
            "monitor_inflight_sessions", "Live API sessions currently open, per endpoint.", ("endpoint",)
        )
        # The failure onset of the series' current regime (monitor.daemon.regime): what "began at" quotes.
        self.regimes = regimes if regimes is not None else RegimeTracker()
        self.failure_onset = gauge(
            "probe_failure_onset_timestamp_seconds",
            "Unix time of the estimated first failure of the current failure episode; 0 while healthy.",
            _JOB_LABELS,
        )
        self.build_info = gauge("monitor_build_info", "The monitor's version; always 1.", ("version",))
        self.build_info.labels(version=version).set(1)
        for reason in SkipReason:
            self.skipped.labels(reason=reason.value)

    def register_targets(
        self, endpoint: str, models: Sequence[ModelInfo], probes: Sequence[ProbeKind]
    ) -> None:
        """Export model_info and pre-create, at 0, every series an alert or dashboard reads.

        Rates and ratios over a series that does not exist yet are empty, not 0, so an alert comparing a
        failure rate with a turn rate would stay silent until the first failure. Gauges with no observation
        yet (`probe_success`, the last-success timestamp) are left absent: 0 would claim a failure nobody saw.
        """
        self.inflight.labels(endpoint=endpoint)
        for info in models:
            self.model_info.labels(
                model=info.model, family=info.family, alias="true" if info.alias else "false"
            ).set(1)
            for probe in probes:
                job = {"endpoint": endpoint, "model": info.model, "probe": probe.value}
                self.turns.labels(**job, outcome=Outcome.OK, cause=Cause.NONE, code="", phase=Phase.NONE)
                self.turns.labels(
                    **job,
                    outcome=Outcome.SERVER_CLOSE,
                    cause=Cause.INTERNAL,
                    code="1011",
                    phase=Phase.FIRST_RESPONSE,
                )
                for timing in _PHASE_TIMINGS:
                    self.phase_seconds.labels(**job, phase=timing.value)
                self.failure_seconds.labels(**job)
                for kind in RecoveryKind:
                    self.recovery_seconds.labels(**job, kind=kind.value)
                    for outcome in RecoveryOutcome:
                        self.recoveries.labels(**job, kind=kind.value, outcome=outcome.value)
                for direction in ("prompt", "response"):
                    self.tokens.labels(**job, direction=direction)
                self.failure_onset.labels(**job).set(0)
                self.regimes.register((endpoint, info.model, probe.value))

    def observe(self, result: ProbeResult) -> None:
        """Count one probe turn. Call it after the store committed the record, never before."""
        job = {"endpoint": result.endpoint, "model": result.model, "probe": result.probe.value}
        self.turns.labels(
            **job,
            outcome=result.outcome.value,
            cause=result.cause.value,
            code=code_label(result.code),
            phase=result.phase.value,
        ).inc()
        for timing in _PHASE_TIMINGS:
            seconds = result.timings.get(timing)
            if seconds is not None:
                self.phase_seconds.labels(**job, phase=timing.value).observe(seconds)
        if result.outcome is not Outcome.PROBER_ERROR:
            if result.ok:
                self.success.labels(**job).set(1)
                self.last_success.labels(**job).set(result.started_at.timestamp())
            else:
                self.success.labels(**job).set(0)
                failure = result.timings.get(TimingPhase.FAILURE)
                if failure is not None:
                    self.failure_seconds.labels(**job).observe(failure)
        regime = self.regimes.record(result)
        if regime is not None:
            self.failure_onset.labels(**job).set(regime.since if regime.failing else 0)
        if result.recovery is not None:
            kind = result.recovery.kind.value
            self.recoveries.labels(**job, kind=kind, outcome=result.recovery.outcome.value).inc()
            # A failed recovery never reached a working session, so it has no time-to-recover to observe.
            if result.recovery.outcome is RecoveryOutcome.OK:
                self.recovery_seconds.labels(**job, kind=kind).observe(result.recovery.seconds)
        for direction, tokens in (("prompt", result.prompt_tokens), ("response", result.response_tokens)):
            if tokens:
                self.tokens.labels(**job, direction=direction).inc(max(0, tokens))

    def observe_schedule_lag(self, seconds: float) -> None:
        """Record how late a job started; negative readings (an early wake-up) count as 0."""
        self.schedule_lag.observe(max(0.0, seconds))

    def count_skipped(self, reason: SkipReason) -> None:
        self.skipped.labels(reason=reason.value).inc()
