"""ProbeMetrics: owns every Prometheus metric of the monitor and turns probe results into samples.

The metric names, types and labels are the table in `docs/metrics.md` (namespace `gemini_live`, base units),
which also explains each metric, its buckets, the label value conventions and what each series costs. The
registry is always injected: library code never touches prometheus_client's global default registry, so
tests and the daemon each own theirs.

Two kinds of metric live here:
- the per-job families (labels endpoint, model, probe, plus the family's own): their state is plain counts
  held per job (`_JobSeries`), rendered to exposition lines once per recorded turn, and served through
  `exposition` (`monitor/daemon/exposition.py`) without re-formatting what did not change. A collector on
  the injected registry exports the same samples to prometheus-client (`get_sample_value`, `name[]` filters,
  OpenMetrics); `tests/unit/test_metrics.py` checks the two agree;
- the few process-wide metrics (model_info, schedule lag, skips, in-flight sessions, build info): ordinary
  prometheus-client metrics, formatted at each scrape (a few dozen lines).

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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import Metric

from monitor import __version__
from monitor.daemon.exposition import Exposition, Family, FamilyKind, HistogramState, label_text, number
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

NAMESPACE: Final = "gemini_live"

# Buckets per measured phase (seconds; +Inf is implicit). Each set brackets what the service shows for that
# phase with about one bucket per "normal" step and a few for degradation, and has a bound at 1 s (the
# latency alert's floor) and at twice the normal p90, so histogram_quantile resolves the alert's "p90 above
# twice yesterday's and above 1 s". docs/metrics.md gives the sources (emulator latencies, incidents).
PHASE_BUCKETS: Final[Mapping[TimingPhase, tuple[float, ...]]] = {
    # TCP + TLS + upgrade: tens of ms on a warm path, a few hundred across regions; seconds when degraded.
    TimingPhase.CONNECT: (0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    # setup sent to setupComplete: 0.2-0.4 s (incident 000, every emulated model).
    TimingPhase.SETUP: (0.25, 0.5, 0.75, 1.0, 2.0, 5.0),
    # turn sent to the first serverContent / audio chunk: 0.25-0.9 s by model; seconds when regressed.
    TimingPhase.FIRST_RESPONSE: (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
    TimingPhase.FIRST_AUDIO: (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
    # turn sent to turnComplete: a spoken answer of one to a few seconds; the turn budget bounds it.
    TimingPhase.TURN: (1.0, 2.5, 5.0, 10.0, 20.0),
}
# Turn sent (or connect start) to the failure. Incident 000's 1011s came 0.2-3 s after the turn; timeouts sit
# at the phase budgets (10-30 s by default).
FAILURE_BUCKETS: Final = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Failure to a working session again (reconnect + setup, plus the resumed turn): about a second when healthy;
# incident 001's "noticeable gap" is seconds.
RECOVERY_BUCKETS: Final = (0.5, 1.0, 2.5, 5.0, 10.0)
# Due time to actual start of a job. Healthy lag is about a millisecond; the target is p99 < 50 ms, so
# buckets are dense up to 0.1 s; a blocked event loop shows up in the seconds buckets. One series in all.
SCHEDULE_LAG_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# The intervals exported by probe_phase_seconds: every measured timing except `failure`, which has its own.
_PHASE_TIMINGS: Final = tuple(p for p in TimingPhase if p is not TimingPhase.FAILURE)
# A token count beyond what any counter can add exactly (2**53) is a hostile or broken server: clamp it.
_MAX_TOKENS: Final = 2**53


def _family(name: str, kind: FamilyKind, doc: str) -> Family:
    return Family(f"{NAMESPACE}_{name}", kind, doc)


# The per-job families, in exposition order.
TURNS: Final = _family(
    "probe_turns",
    FamilyKind.COUNTER,
    "Probe turns by outcome, cause, close code or HTTP status, and the phase where they failed.",
)
PHASE_SECONDS: Final = _family(
    "probe_phase_seconds",
    FamilyKind.HISTOGRAM,
    "Duration of each phase a probe turn reached: connect, setup, first_response, first_audio, turn.",
)
FAILURE_SECONDS: Final = _family(
    "probe_failure_seconds",
    FamilyKind.HISTOGRAM,
    "Turn sent (or connect start, if earlier) to the failure, for failed provider turns.",
)
SUCCESS: Final = _family(
    "probe_success", FamilyKind.GAUGE, "1 if the last provider-judged probe turn succeeded, else 0."
)
LAST_SUCCESS: Final = _family(
    "probe_last_success_timestamp_seconds",
    FamilyKind.GAUGE,
    "Unix time (started_at) of the last successful probe turn.",
)
RECOVERIES: Final = _family(
    "probe_recoveries",
    FamilyKind.COUNTER,
    "Recovery attempts after a failed turn, by how they reconnected and whether they worked.",
)
RECOVERY_SECONDS: Final = _family(
    "probe_recovery_seconds",
    FamilyKind.HISTOGRAM,
    "Failure to a working session again, per recovery kind (successful recoveries only).",
)
TOKENS: Final = _family(
    "probe_tokens", FamilyKind.COUNTER, "Tokens reported by the server's usageMetadata, by direction."
)
# The failure onset of the series' current regime (monitor.daemon.regime): what the alerts' "began at" quotes.
FAILURE_ONSET: Final = _family(
    "probe_failure_onset_timestamp_seconds",
    FamilyKind.GAUGE,
    "Unix time of the estimated first failure of the current failure episode; 0 while healthy.",
)
MODEL_INFO: Final = _family(
    "model_info", FamilyKind.GAUGE, "Configured models: 1 per model, with its family and alias flag."
)
_JOB_FAMILIES: Final = (
    TURNS, PHASE_SECONDS, FAILURE_SECONDS, SUCCESS, LAST_SUCCESS, RECOVERIES, RECOVERY_SECONDS, TOKENS,
    FAILURE_ONSET,
)  # fmt: skip

_HEADERS: Final = tuple(family.header() for family in _JOB_FAMILIES)

_TurnKey = tuple[str, str, str, str]  # outcome, cause, code, phase
_RecoveryKey = tuple[str, str]  # kind, outcome


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


class _JobSeries:
    """The per-job families' state for one (endpoint, model, probe), and its rendered exposition lines."""

    __slots__ = (
        "failure",
        "labels",
        "last_success",
        "lines",
        "onset",
        "phases",
        "recoveries",
        "recovery_seconds",
        "success",
        "tokens",
        "turns",
    )

    def __init__(self, endpoint: str, model: str, probe: str) -> None:
        self.labels = {"endpoint": endpoint, "model": model, "probe": probe}
        self.turns: dict[_TurnKey, float] = {}
        self.phases: dict[TimingPhase, HistogramState] = {}
        self.failure: HistogramState | None = None
        self.success: float | None = None
        self.last_success: float | None = None
        self.recoveries: dict[_RecoveryKey, float] = {}
        self.recovery_seconds: dict[str, HistogramState] = {}
        self.tokens: dict[str, float] = {}
        self.onset: float | None = None
        # One block of lines per family of _JOB_FAMILIES, in that order (b"" when the job has none).
        self.lines: tuple[bytes, ...] = (b"",) * len(_JOB_FAMILIES)

    def phase(self, timing: TimingPhase) -> HistogramState:
        histogram = self.phases.get(timing)
        if histogram is None:
            histogram = self.phases[timing] = HistogramState(PHASE_BUCKETS[timing])
        return histogram

    def recovery(self, kind: str) -> HistogramState:
        histogram = self.recovery_seconds.get(kind)
        if histogram is None:
            histogram = self.recovery_seconds[kind] = HistogramState(RECOVERY_BUCKETS)
        return histogram

    def render(self) -> None:
        """Re-render this job's exposition lines (called once per recorded turn, on the loop)."""
        job = label_text(self.labels)
        recoveries = self.recoveries.items()
        rows = (  # in _JOB_FAMILIES' order
            [_sample(TURNS, job, _turn_labels(key), value) for key, value in self.turns.items()],
            self._phase_lines(job),
            self.failure.lines(FAILURE_SECONDS.name, job) if self.failure else [],
            [] if self.success is None else [_sample(SUCCESS, job, {}, self.success)],
            [] if self.last_success is None else [_sample(LAST_SUCCESS, job, {}, self.last_success)],
            [_sample(RECOVERIES, job, {"kind": k, "outcome": o}, value) for (k, o), value in recoveries],
            self._recovery_lines(job),
            [_sample(TOKENS, job, {"direction": d}, value) for d, value in self.tokens.items()],
            [] if self.onset is None else [_sample(FAILURE_ONSET, job, {}, self.onset)],
        )
        self.lines = tuple("".join(block).encode() for block in rows)

    def _phase_lines(self, job: str) -> list[str]:
        rows: list[str] = []
        for timing, histogram in self.phases.items():
            rows += histogram.lines(PHASE_SECONDS.name, f'{job},phase="{timing.value}"')
        return rows

    def _recovery_lines(self, job: str) -> list[str]:
        rows: list[str] = []
        for kind, histogram in self.recovery_seconds.items():
            rows += histogram.lines(RECOVERY_SECONDS.name, f'{job},kind="{kind}"')
        return rows

    def add_samples(self, metrics: Mapping[Family, Metric]) -> None:
        """The same samples as `render`, as prometheus-client samples (the registry's collect())."""
        job = self.labels
        for key, value in self.turns.items():
            metrics[TURNS].add_sample(TURNS.sample_name, {**job, **_turn_labels(key)}, value)
        for timing, histogram in self.phases.items():
            histogram.add_samples(metrics[PHASE_SECONDS], {**job, "phase": timing.value})
        if self.failure is not None:
            self.failure.add_samples(metrics[FAILURE_SECONDS], job)
        if self.success is not None:
            metrics[SUCCESS].add_sample(SUCCESS.sample_name, dict(job), self.success)
        if self.last_success is not None:
            metrics[LAST_SUCCESS].add_sample(LAST_SUCCESS.sample_name, dict(job), self.last_success)
        for (kind, outcome), value in self.recoveries.items():
            labels = {**job, "kind": kind, "outcome": outcome}
            metrics[RECOVERIES].add_sample(RECOVERIES.sample_name, labels, value)
        for kind, histogram in self.recovery_seconds.items():
            histogram.add_samples(metrics[RECOVERY_SECONDS], {**job, "kind": kind})
        for direction, value in self.tokens.items():
            metrics[TOKENS].add_sample(TOKENS.sample_name, {**job, "direction": direction}, value)
        if self.onset is not None:
            metrics[FAILURE_ONSET].add_sample(FAILURE_ONSET.sample_name, dict(job), self.onset)


def _turn_labels(key: _TurnKey) -> dict[str, str]:
    outcome, cause, code, phase = key
    return {"outcome": outcome, "cause": cause, "code": code, "phase": phase}


def _sample(family: Family, job: str, extra: Mapping[str, str], value: float) -> str:
    labels = f"{job},{label_text(extra)}" if extra else job
    return f"{family.sample_name}{{{labels}}} {number(value)}\n"


class _JobCollector:
    """Exports the per-job families to the registry (collect) and names them for it (describe)."""

    def __init__(self, metrics: ProbeMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return [family.metric() for family in (*_JOB_FAMILIES, MODEL_INFO)]

    def collect(self) -> Iterator[Metric]:
        families = {family: family.metric() for family in _JOB_FAMILIES}
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

        self._jobs: dict[tuple[str, str, str], _JobSeries] = {}
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
        registry.register(_JobCollector(self))
        registry.register(_Registered(own))
        self.exposition = Exposition(self._snapshot, own)

    def jobs(self) -> Iterable[_JobSeries]:
        return self._jobs.values()

    def models(self) -> Iterable[tuple[tuple[str, str], ...]]:
        return self._models.values()

    def _snapshot(self) -> list[bytes]:
        """The per-job families' cached blocks in exposition order (runs on the loop: references only)."""
        parts: list[bytes] = []
        columns = zip(*(job.lines for job in self._jobs.values()), strict=True)
        for header, column in zip(_HEADERS, columns, strict=False):
            parts.append(header)
            parts.extend(column)
        parts += (MODEL_INFO.header(), self._model_lines)
        return parts

    def _job(self, endpoint: str, model: str, probe: str) -> _JobSeries:
        key = (endpoint, model, probe)
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _JobSeries(endpoint, model, probe)
        return job

    def register_targets(
        self, endpoint: str, models: Sequence[ModelInfo], probes: Sequence[ProbeKind]
    ) -> None:
        """Export model_info and create, at 0, the series whose absence would blind a rule.

        `increase()` over a counter series that appears with its first increment misses that increment, so
        an alert counting failures would miss the first failure of a burst: the ok and 1011 turn series and
        the recovery counters an alert reads exist from the start. The latency histograms are created by the
        first turn that reaches each phase (no rule or panel reads a phase before any turn reached it), and
        gauges with no observation yet (`probe_success`, the last-success timestamp) stay absent: 0 would
        claim a failure nobody saw.
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
            _sample(MODEL_INFO, label_text(dict(labels)), {}, 1.0) for labels in self._models.values()
        ).encode()
        self.exposition.touch()

    def observe(self, result: ProbeResult) -> None:
        """Count one probe turn. Call it after the store committed the record, never before."""
        job = self._job(result.endpoint, result.model, result.probe.value)
        key = (result.outcome.value, result.cause.value, code_label(result.code), result.phase.value)
        job.turns[key] = job.turns.get(key, 0.0) + 1
        for timing in _PHASE_TIMINGS:
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
                job.tokens[direction] = job.tokens.get(direction, 0.0) + min(tokens, _MAX_TOKENS)
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
