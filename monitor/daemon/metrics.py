"""ProbeMetrics: owns every Prometheus metric of the monitor and turns probe results into samples.

The metric names, types and labels are the table in `docs/metrics.md` (namespace `gemini_live`, base units),
which also explains each metric, its buckets, the label value conventions and what each series costs. The
registry is always injected: library code never touches prometheus_client's global default registry, so
tests and the daemon each own theirs.

Two kinds of metric live here:
- the per-job families (labels endpoint, model, probe, plus the family's own; defined with their buckets in
  `job_series.py`): their state is plain counts held per job (`JobSeries`), rendered to exposition lines
  once per recorded turn, and served through
  `exposition` (`monitor/daemon/exposition.py`) without re-formatting what did not change. A collector on
  the injected registry exports the same samples to prometheus-client (`get_sample_value`, `name[]` filters,
  OpenMetrics); `tests/unit/test_metrics.py` checks the two agree;
- the few process-wide metrics (model_info, schedule lag, skips, in-flight sessions, build info): ordinary
  prometheus-client metrics, formatted at each scrape (a few dozen lines).

Label value conventions (shared with the alert rules and dashboards):
- `code` is the integer as a string ("1011", "429"), or "" when the record's code is null.
- `phase` on `probe_turns_total` is the failure Phase value ("" for ok); `phase` on `probe_phase_seconds` is a
  measured interval: token (ephemeral-token endpoints only) | connect | setup | first_response | first_audio |
  turn.
- `alias` on `model_info` is "true" or "false".

What a result means for the gauges: `probe_success` and `probe_last_success_timestamp_seconds` describe the
provider, so a `prober_error` turn (our own bug) leaves them unchanged; it is still counted in
`probe_turns_total`, where its outcome label tells it apart. The last-success timestamp is the turn's
`started_at` (the wall clock the store and the status page show), not the moment the turn ended: the two
differ by one turn's duration, which no alert threshold can see, and the gauge can be recomputed from records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import Metric

from monitor import __version__
from monitor.daemon.exposition import Exposition, HistogramState, label_text
from monitor.daemon.job_series import (
    FAILURE_BUCKETS,
    HEADERS,
    JOB_FAMILIES,
    MAX_TOKENS,
    MODEL_INFO,
    NAMESPACE,
    PHASE_BUCKETS,
    PHASE_TIMINGS,
    RECOVERY_BUCKETS,
    JobSeries,
    sample_line,
)
from monitor.daemon.regime import RegimeTracker, SeriesKey, SeriesRegime
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

# Due time to actual start of a job. Healthy lag is about a millisecond; the target is p99 < 50 ms, so
# buckets are dense up to 0.1 s; a blocked event loop shows up in the seconds buckets. One series in all.
SCHEDULE_LAG_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


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


class _JobCollector:
    """Exports the per-job families to the registry (collect) and names them for it (describe)."""

    def __init__(self, metrics: ProbeMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return [family.metric() for family in (*JOB_FAMILIES, MODEL_INFO)]

    def collect(self) -> Iterator[Metric]:
        families = {family: family.metric() for family in JOB_FAMILIES}
        for job in self._metrics.jobs():
            job.add_samples(families)
        yield from families.values()
        info = MODEL_INFO.metric()
        for labels in self._metrics.models():
            info.add_sample(MODEL_INFO.name, dict(labels), 1.0)
        yield info


class _Registered:
    """The process-wide metrics' own registry, exported through the injected one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def describe(self) -> Iterable[Metric]:
        return self._registry.collect()

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class ProbeMetrics:
    """Every metric of the monitor, exported on the injected registry and through `exposition`."""

    def __init__(
        self, registry: CollectorRegistry, *, version: str = __version__, regimes: RegimeTracker | None = None
    ) -> None:
        # No `_created` samples: Prometheus 2.42 does not ingest them (created-timestamp ingestion is a 2.50+
        # feature flag) and they double the counters' and histograms' series.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        own = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: Sequence[str]) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=own)

        def gauge(name: str, doc: str, labels: Sequence[str]) -> Gauge:
            return Gauge(name, doc, labels, namespace=NAMESPACE, registry=own)

        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, labels, namespace=NAMESPACE, registry=own, buckets=buckets)

        self._jobs: dict[tuple[str, str, str], JobSeries] = {}
        self._models: dict[str, tuple[tuple[str, str], ...]] = {}
        self._model_lines = b""
        self.regimes = regimes if regimes is not None else RegimeTracker()
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
        self.build_info = gauge("monitor_build_info", "The monitor's version; always 1.", ("version",))
        self.build_info.labels(version=version).set(1)
        for reason in SkipReason:
            self.skipped.labels(reason=reason.value)
        # Keep these last: the injected registry learns the metrics' names when they are registered.
        registry.register(_JobCollector(self))
        registry.register(_Registered(own))
        self.exposition = Exposition(self._snapshot, own)

    def jobs(self) -> Iterable[JobSeries]:
        return self._jobs.values()

    def models(self) -> Iterable[tuple[tuple[str, str], ...]]:
        return self._models.values()

    def _snapshot(self) -> list[bytes]:
        """The per-job families' cached blocks in exposition order (runs on the loop: references only)."""
        parts: list[bytes] = []
        columns = zip(*(job.lines for job in self._jobs.values()), strict=True)
        for header, column in zip(HEADERS, columns, strict=False):
            parts.append(header)
            parts.extend(column)
        parts += (MODEL_INFO.header(), self._model_lines)
        return parts

    def _job(self, endpoint: str, model: str, probe: str) -> JobSeries:
        key = (endpoint, model, probe)
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = JobSeries(endpoint, model, probe)
        return job

    def register_targets(
        self,
        endpoint: str,
        models: Sequence[ModelInfo],
        probes: Sequence[ProbeKind],
        *,
        credentials_phase: Phase | None = None,
    ) -> None:
        """Export model_info and create, at 0, the series whose absence would blind a rule.

        `increase()` over a counter series that appears with its first increment misses that increment, so
        an alert counting failures would miss the first failure of a burst: the ok and 1011 turn series and
        the recovery counters an alert reads exist from the start. The latency histograms are created by the
        first turn that reaches each phase (no rule or panel reads a phase before any turn reached it), and
        gauges with no observation yet (`probe_success`, the last-success timestamp) stay absent: 0 would
        claim a failure nobody saw. `credentials_phase` (Phase.TOKEN or Phase.CREDENTIALS: endpoints that mint
        or refresh a credential) adds the credentials_error series GeminiLiveTokenService reads.
        """
        self.inflight.labels(endpoint=endpoint)
        for info in models:
            self._models[info.model] = (
                ("model", info.model),
                ("family", info.family),
                ("alias", "true" if info.alias else "false"),
            )
            for probe in probes:
                job = self._job(endpoint, info.model, probe.value)
                job.turns.setdefault((Outcome.OK, Cause.NONE, "", Phase.NONE), 0.0)
                job.turns.setdefault(
                    (Outcome.SERVER_CLOSE, Cause.INTERNAL, "1011", Phase.FIRST_RESPONSE), 0.0
                )
                if credentials_phase is not None:
                    job.turns.setdefault(
                        (Outcome.CREDENTIALS_ERROR, Cause.UNAVAILABLE, "503", credentials_phase), 0.0
                    )
                for kind in RecoveryKind:
                    for outcome in RecoveryOutcome:
                        job.recoveries.setdefault((kind.value, outcome.value), 0.0)
                for direction in ("prompt", "response"):
                    job.tokens.setdefault(direction, 0.0)
                if job.onset is None:
                    job.onset = 0.0
                self.regimes.register((endpoint, info.model, probe.value))
                job.render()
        self._model_lines = "".join(
            sample_line(MODEL_INFO, label_text(dict(labels)), {}, 1.0) for labels in self._models.values()
        ).encode()
        self.exposition.touch()

    def observe(self, result: ProbeResult) -> None:
        """Count one probe turn. Call it after the store committed the record, never before."""
        job = self._job(result.endpoint, result.model, result.probe.value)
        key = (result.outcome.value, result.cause.value, code_label(result.code), result.phase.value)
        job.turns[key] = job.turns.get(key, 0.0) + 1
        for timing in PHASE_TIMINGS:
            seconds = result.timings.get(timing)
            if seconds is not None:
                job.phase(timing).observe(seconds)
        if result.outcome is not Outcome.PROBER_ERROR:
            if result.ok:
                job.success = 1.0
                job.last_success = result.started_at.timestamp()
            else:
                job.success = 0.0
                failure = result.timings.get(TimingPhase.FAILURE)
                if failure is not None:
                    if job.failure is None:
                        job.failure = HistogramState(FAILURE_BUCKETS)
                    job.failure.observe(failure)
        if result.recovery is not None:
            kind = result.recovery.kind.value
            recovery = (kind, result.recovery.outcome.value)
            job.recoveries[recovery] = job.recoveries.get(recovery, 0.0) + 1
            # A failed recovery never reached a working session, so it has no time-to-recover to observe.
            if result.recovery.outcome is RecoveryOutcome.OK:
                job.recovery(kind).observe(result.recovery.seconds)
        for direction, tokens in (("prompt", result.prompt_tokens), ("response", result.response_tokens)):
            if tokens and tokens > 0:
                job.tokens[direction] = job.tokens.get(direction, 0.0) + min(tokens, MAX_TOKENS)
        regime = self.regimes.record(result)
        if regime is not None:
            job.onset = regime.since if regime.failing else 0.0
        job.render()
        self.exposition.touch()

    def show_regimes(self, regimes: Mapping[SeriesKey, SeriesRegime]) -> None:
        """Export the onsets of regimes known before any turn (the tracker seeded from the store at start)."""
        for (endpoint, model, probe), regime in regimes.items():
            job = self._job(endpoint, model, probe)
            job.onset = regime.since if regime.failing else 0.0
            job.render()
        self.exposition.touch()

    def observe_schedule_lag(self, seconds: float) -> None:
        """Record how late a job started; negative readings (an early wake-up) count as 0."""
        self.schedule_lag.observe(max(0.0, seconds))

    def count_skipped(self, reason: SkipReason) -> None:
        self.skipped.labels(reason=reason.value).inc()
