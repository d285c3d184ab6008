"""The per-job metric families: their names, help, buckets, state per (endpoint, model, probe), and lines.

`ProbeMetrics` (`metrics.py`) owns the metrics and turns results into samples; this module owns what one
job's series are: `JobSeries` holds their state as plain counts and renders the job's exposition lines once
per recorded turn, which `/metrics` serves without re-formatting (`exposition.py`). `docs/metrics.md` gives
the buckets' sources and what each series costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from prometheus_client.core import Metric

from monitor.daemon.exposition import Family, FamilyKind, HistogramState, label_text, number
from monitor.probe.outcome import TimingPhase

__all__ = [
    "FAILURE_BUCKETS",
    "HEADERS",
    "JOB_FAMILIES",
    "MAX_TOKENS",
    "MODEL_INFO",
    "NAMESPACE",
    "PHASE_BUCKETS",
    "PHASE_TIMINGS",
    "RECOVERY_BUCKETS",
    "JobSeries",
    "sample_line",
]

NAMESPACE: Final = "gemini_live"

# Buckets per measured phase (seconds; +Inf is implicit). Each set brackets what the service shows for that
# phase with about one bucket per "normal" step and a few for degradation, and has a bound at 1 s (the
# latency alert's floor) and at twice the normal p90, so histogram_quantile resolves the alert's "p90 above
# twice yesterday's and above 1 s". docs/metrics.md gives the sources (emulator latencies, incidents).
PHASE_BUCKETS: Final[Mapping[TimingPhase, tuple[float, ...]]] = {
    # The ephemeral-token mint (token endpoints only): one HTTPS round trip, tens to hundreds of ms.
    TimingPhase.TOKEN: (0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
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

# The intervals exported by probe_phase_seconds: every measured timing except `failure`, which has its own.
PHASE_TIMINGS: Final = tuple(p for p in TimingPhase if p is not TimingPhase.FAILURE)
# A token count beyond what any counter can add exactly (2**53) is a hostile or broken server: clamp it.
MAX_TOKENS: Final = 2**53


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
JOB_FAMILIES: Final = (
    TURNS, PHASE_SECONDS, FAILURE_SECONDS, SUCCESS, LAST_SUCCESS, RECOVERIES, RECOVERY_SECONDS, TOKENS,
    FAILURE_ONSET,
)  # fmt: skip

HEADERS: Final = tuple(family.header() for family in JOB_FAMILIES)

_TurnKey = tuple[str, str, str, str]  # outcome, cause, code, phase
_RecoveryKey = tuple[str, str]  # kind, outcome


class JobSeries:
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
        # One block of lines per family of JOB_FAMILIES, in that order (b"" when the job has none).
        self.lines: tuple[bytes, ...] = (b"",) * len(JOB_FAMILIES)

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
        rows = (  # in JOB_FAMILIES' order
            [sample_line(TURNS, job, _turn_labels(key), value) for key, value in self.turns.items()],
            self._phase_lines(job),
            self.failure.lines(FAILURE_SECONDS.name, job) if self.failure else [],
            [] if self.success is None else [sample_line(SUCCESS, job, {}, self.success)],
            [] if self.last_success is None else [sample_line(LAST_SUCCESS, job, {}, self.last_success)],
            [sample_line(RECOVERIES, job, {"kind": k, "outcome": o}, value) for (k, o), value in recoveries],
            self._recovery_lines(job),
            [sample_line(TOKENS, job, {"direction": d}, value) for d, value in self.tokens.items()],
            [] if self.onset is None else [sample_line(FAILURE_ONSET, job, {}, self.onset)],
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


def sample_line(family: Family, job: str, extra: Mapping[str, str], value: float) -> str:
    labels = f"{job},{label_text(extra)}" if extra else job
    return f"{family.sample_name}{{{labels}}} {number(value)}\n"
