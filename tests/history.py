"""Realistic probe results and simulated histories, built directly as values (they are plain data).

The failure shape is incident 000's: setupComplete, an empty sessionResumptionUpdate after the turn, then the
server closes with 1011 "Internal error encountered." about 1.9 s later, before any serverContent. Used by the
metrics, store and web tests, the store growth benchmark and the status-page screenshot script.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome

__all__ = [
    "ALIAS",
    "PINNED",
    "PREVIEW",
    "incident_000_failure",
    "ok_turn",
    "simulate_history",
]

ENDPOINT = "gemini-api"
VANTAGE = "us-west-a"
ALIAS = "gemini-2.5-flash-native-audio-latest"
PREVIEW = "gemini-2.5-flash-native-audio-preview-12-2025"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
INTERNAL_REASON = "Internal error encountered."


def _run_id() -> str:
    return uuid.uuid4().hex


def ok_turn(
    started_at: datetime,
    *,
    model: str = PINNED,
    probe: ProbeKind = ProbeKind.TEXT,
    first_audio: float = 0.62,
    chunks: int = 12,
    run_id: str | None = None,
) -> ProbeResult:
    """A clean turn as the probe records it against the emulator: `chunks` audio frames 70 ms apart, each
    with its output transcription, then generationComplete, turnComplete, usageMetadata, and our own close."""
    first_response = round(first_audio, 4)
    turn = round(first_audio + chunks * 0.07 + 0.05, 4)
    messages = [("setupComplete", -0.012), ("sessionResumptionUpdate", 0.118)]
    if probe is ProbeKind.AUDIO:
        messages.append(("serverContent.inputTranscription", 0.119))
    for i in range(chunks):
        at = round(first_audio + i * 0.07, 4)
        messages += [("serverContent.modelTurn", at), ("serverContent.outputTranscription", at)]
    messages += [
        ("serverContent.generationComplete", round(turn - 0.02, 4)),
        ("serverContent.turnComplete", turn),
        ("usageMetadata", turn),
        ("close", round(turn + 0.0003, 4)),
    ]
    return ProbeResult(
        run_id=run_id or _run_id(),
        started_at=started_at,
        vantage=VANTAGE,
        endpoint=ENDPOINT,
        model=model,
        probe=probe,
        outcome=Outcome.OK,
        close_initiator="client",
        timings={
            TimingPhase.CONNECT: 0.081,
            TimingPhase.SETUP: 0.312,
            TimingPhase.FIRST_RESPONSE: first_response,
            TimingPhase.FIRST_AUDIO: first_audio,
            TimingPhase.TURN: turn,
        },
        messages=tuple(messages),
        audio_seconds=round(chunks * 0.07 * 0.96, 4),
        prompt_tokens=23,
        response_tokens=61,
    )


def incident_000_failure(
    started_at: datetime,
    *,
    model: str = ALIAS,
    probe: ProbeKind = ProbeKind.TEXT,
    failure: float = 1.87,
    recovery: Recovery | None = None,
    run_id: str | None = None,
) -> ProbeResult:
    """server_close / internal / 1011 / first_response, with incident 000's wire-level pattern."""
    return ProbeResult(
        run_id=run_id or _run_id(),
        started_at=started_at,
        vantage=VANTAGE,
        endpoint=ENDPOINT,
        model=model,
        probe=probe,
        outcome=Outcome.SERVER_CLOSE,
        cause=Cause.INTERNAL,
        code=1011,
        phase=Phase.FIRST_RESPONSE,
        close_reason=INTERNAL_REASON,
        close_initiator="server",
        timings={TimingPhase.CONNECT: 0.081, TimingPhase.SETUP: 0.312, TimingPhase.FAILURE: failure},
        messages=(("setupComplete", -0.1), ("sessionResumptionUpdate", 0.12), ("close", failure)),
        recovery=recovery,
    )


def simulate_history(
    start: datetime,
    minutes: int,
    *,
    onset_minute: int,
    models: Sequence[str] = (PINNED, ALIAS),
    probes: Sequence[ProbeKind] = (ProbeKind.TEXT, ProbeKind.AUDIO),
    seed: int = 7,
) -> Iterator[ProbeResult]:
    """A demo-like history, one turn per (model, probe) per minute: the pinned model stays clean; every other
    model fails like incident 000 at ~1% before `onset_minute` and ~85% after it (recovering by resumption
    before the onset, mostly failing to recover after it)."""
    dice = random.Random(seed)
    for minute in range(minutes):
        for model in models:
            for probe in probes:
                at = start + timedelta(minutes=minute, seconds=dice.uniform(0, 2))
                base = 0.55 if probe is ProbeKind.TEXT else 0.85
                rate = 0.0 if model == PINNED else (0.85 if minute >= onset_minute else 0.01)
                if dice.random() >= rate:
                    yield ok_turn(
                        at, model=model, probe=probe, first_audio=round(base + dice.gauss(0, 0.08), 4)
                    )
                    continue
                recovered = minute < onset_minute or dice.random() < 0.3
                recovery = Recovery(
                    kind=RecoveryKind.RESUMED if recovered else RecoveryKind.FRESH,
                    outcome=RecoveryOutcome.OK if recovered else RecoveryOutcome.FAILED,
                    seconds=round(dice.uniform(0.8, 2.5), 3),
                )
                yield incident_000_failure(
                    at, model=model, probe=probe, failure=round(dice.uniform(0.2, 3.0), 3), recovery=recovery
                )
