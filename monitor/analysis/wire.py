"""Wire-level patterns of the incident report: which server messages failed and successful turns saw.

The most common sequences of message kinds (never payloads) with counts, and the delays setup -> setupComplete
and turn -> failure; incident 000's "wire-level pattern".
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.analysis.timeline import failure_class
from monitor.probe.outcome import Outcome, TimingPhase
from monitor.probe.record import ProbeResult, RecoveryKind

__all__ = ["WirePattern", "WireSummary", "wire_summary"]


@dataclass(frozen=True, slots=True)
class WirePattern:
    sequence: str  # message kinds, e.g. "setupComplete → sessionResumptionUpdate → close 1011"
    count: int


@dataclass(frozen=True, slots=True)
class WireSummary:
    """Server message sequences of failed and successful turns, and how long after the turn failures came."""

    failures: tuple[WirePattern, ...]
    successes: tuple[WirePattern, ...]
    failure_total: int
    success_total: int
    failure_delay: tuple[float, float, float] | None  # seconds, turn sent to failure: min, median, max
    setup_delay: tuple[float, float, float] | None  # seconds, setup sent to setupComplete


# Streamed content interleaves these kinds dozens of times per turn; a run of them is one step of the pattern.
_STREAMED = frozenset(
    {"serverContent.modelTurn", "serverContent.outputTranscription", "serverContent.inputTranscription"}
)


def _sequence(record: ProbeResult) -> str:
    # The recovery resumes whenever any update carried a newHandle (monitor.probe.recovery); a fresh recovery
    # therefore proves every sessionResumptionUpdate of the failed turn was empty.
    empty_updates = record.recovery is not None and record.recovery.kind is RecoveryKind.FRESH
    kinds: list[str] = []
    streamed: set[str] = set()
    for kind, _seconds in record.messages:
        if kind in _STREAMED:
            streamed.add(kind.removeprefix("serverContent."))
            label = "serverContent{" + ", ".join(sorted(streamed)) + "}"
            if kinds and kinds[-1].startswith("serverContent{"):
                kinds[-1] = label
            else:
                kinds.append(label)
            continue
        streamed.clear()
        if kind == "close" and record.code is not None:
            label = f"close {record.code}"
        elif kind == "sessionResumptionUpdate" and empty_updates:
            label = "sessionResumptionUpdate {}"
        else:
            label = kind
        if kinds and kinds[-1].removesuffix("…") == label:
            kinds[-1] = label + "…"
        else:
            kinds.append(label)
    if not record.ok and not any(k.startswith("close") for k in kinds):
        kinds.append(failure_class(record.outcome.value, record.code))
    return " → ".join(kinds) if kinds else "(no server message)"


def _spread(values: list[float]) -> tuple[float, float, float] | None:
    return (min(values), statistics.median(values), max(values)) if values else None


def wire_summary(records: Iterable[ProbeResult], top: int = 3) -> WireSummary:
    """The `top` most common message sequences of failed and successful turns (prober_error excluded)."""
    failed: Counter[str] = Counter()
    succeeded: Counter[str] = Counter()
    delays: list[float] = []
    setups: list[float] = []
    for record in records:
        if record.outcome is Outcome.PROBER_ERROR:
            continue
        (succeeded if record.ok else failed)[_sequence(record)] += 1
        if not record.ok and TimingPhase.FAILURE in record.timings and TimingPhase.SETUP in record.timings:
            delays.append(record.timings[TimingPhase.FAILURE])  # failed after the turn was sent
        if TimingPhase.SETUP in record.timings:
            setups.append(record.timings[TimingPhase.SETUP])
    return WireSummary(
        failures=tuple(WirePattern(s, n) for s, n in failed.most_common(top)),
        successes=tuple(WirePattern(s, n) for s, n in succeeded.most_common(top)),
        failure_total=sum(failed.values()),
        success_total=sum(succeeded.values()),
        failure_delay=_spread(delays),
        setup_delay=_spread(setups),
    )
