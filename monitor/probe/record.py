"""ProbeResult: the one value a probe run produces, and its JSON record (fields in docs/store.md).

The record is the contract between the probe, the store, the metrics, the logs and the timeline tool, and
what `live-monitor probe --json` prints. `to_record()` and `from_record()` are exact inverses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase

__all__ = ["ProbeResult", "Recovery", "RecoveryKind", "RecoveryOutcome", "format_utc", "parse_utc"]


class RecoveryKind(StrEnum):
    """How the one recovery attempt after a failed turn reconnected."""

    FRESH = "fresh"
    RESUMED = "resumed"


class RecoveryOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    """The recovery attempt after a failed turn. It never turns the failed turn into a success."""

    kind: RecoveryKind
    outcome: RecoveryOutcome
    seconds: float
    # The failure class of the recovery attempt itself, when it failed (not part of the metric labels).
    detail: str = ""

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": self.kind.value,
            "outcome": self.outcome.value,
            "seconds": self.seconds,
        }
        if self.detail:
            record["detail"] = self.detail
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Recovery:
        return cls(
            kind=RecoveryKind(record["kind"]),
            outcome=RecoveryOutcome(record["outcome"]),
            seconds=float(record["seconds"]),
            detail=str(record.get("detail", "")),
        )


def format_utc(moment: datetime) -> str:
    """`2026-05-27T17:42:00.123Z`: millisecond precision, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc(text: str) -> datetime:
    """Inverse of format_utc; accepts any ISO 8601 form with an offset or a trailing Z."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One probe turn, measured and classified."""

    run_id: str
    started_at: datetime  # aware UTC wall clock; durations never come from it
    vantage: str
    endpoint: str
    model: str
    probe: ProbeKind
    outcome: Outcome
    cause: Cause = Cause.NONE
    # The close code for server_close/connection_lost, the HTTP status for handshake_rejected, else None.
    code: int | None = None
    phase: Phase = Phase.NONE
    close_reason: str = ""
    close_initiator: str = ""  # "server", "client" or "" when no close happened
    # Seconds per TimingPhase; a phase that was not reached is absent (null in the record).
    timings: Mapping[TimingPhase, float] = field(default_factory=dict)
    # The server message sequence: (message kind, seconds since the turn was sent; negative before it).
    # Bounded (ProbeLimits.messages_kept): one ("~dropped", t) stands where entries were dropped.
    messages: Sequence[tuple[str, float]] = ()
    messages_dropped: int = 0  # entries left out of `messages`; in the record only when non-zero
    audio_seconds: float = 0.0
    prompt_tokens: int | None = None
    response_tokens: int | None = None
    recovery: Recovery | None = None
    # One human line about the failure (never a traceback, never a secret); not a label.
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def to_record(self) -> dict[str, Any]:
        """The JSON record (docs/store.md)."""
        record: dict[str, Any] = {
            "run_id": self.run_id,
            "started_at": format_utc(self.started_at),
            "vantage": self.vantage,
            "endpoint": self.endpoint,
            "model": self.model,
            "probe": self.probe.value,
            "outcome": self.outcome.value,
            "cause": self.cause.value,
            "code": self.code,
            "phase": self.phase.value,
            "close_reason": self.close_reason,
            "close_initiator": self.close_initiator,
            "timings": {p.value: _round(self.timings.get(p)) for p in TimingPhase},
            "messages": [[kind, round(seconds, 4)] for kind, seconds in self.messages],
            "audio_seconds": round(self.audio_seconds, 4),
            "tokens": {"prompt": self.prompt_tokens, "response": self.response_tokens},
            "recovery": self.recovery.to_record() if self.recovery else None,
        }
        if self.messages_dropped:
            record["messages_dropped"] = self.messages_dropped
        if self.detail:
            record["detail"] = self.detail
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ProbeResult:
        """Parse a JSON record; raises KeyError/ValueError/TypeError naming what is wrong."""
        timings = record.get("timings") or {}
        tokens = record.get("tokens") or {}
        recovery = record.get("recovery")
        code = record.get("code")
        return cls(
            run_id=str(record["run_id"]),
            started_at=parse_utc(str(record["started_at"])),
            vantage=str(record.get("vantage", "")),
            endpoint=str(record.get("endpoint", "")),
            model=str(record["model"]),
            probe=ProbeKind(record["probe"]),
            outcome=Outcome(record["outcome"]),
            cause=Cause(record.get("cause", "none")),
            code=int(code) if code is not None else None,
            phase=Phase(record.get("phase") or ""),
            close_reason=str(record.get("close_reason") or ""),
            close_initiator=str(record.get("close_initiator") or ""),
            timings={TimingPhase(k): float(v) for k, v in timings.items() if v is not None},
            messages=tuple((str(kind), float(seconds)) for kind, seconds in record.get("messages") or ()),
            messages_dropped=int(record.get("messages_dropped") or 0),
            audio_seconds=float(record.get("audio_seconds") or 0.0),
            prompt_tokens=_optional_int(tokens.get("prompt")),
            response_tokens=_optional_int(tokens.get("response")),
            recovery=Recovery.from_record(recovery) if recovery else None,
            detail=str(record.get("detail") or ""),
        )


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
