"""run_probe(): one probe turn against one target, returned as one ProbeResult. Never raises (but cancels).

This is the only place where exceptions become outcomes: the conversation raises typed `LiveError`s, the
checks here find empty or invalid turns, `classify` names them, and anything else is `prober_error` (our
bug, logged with a redacted traceback, never counted against the provider). After a provider-side failure
one recovery turn runs (`recovery.py`); it is recorded beside the failure and never replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import aiohttp

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.live import messages as wire
from monitor.live.conversation import Endpoint, Trace, converse
from monitor.live.session import redact
from monitor.probe import plans
from monitor.probe.audio import check_audio
from monitor.probe.classify import Mechanism, Observation, classify, observe
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryOutcome
from monitor.probe.recovery import recovery_kind, run_recovery
from monitor.probe.target import ProbeTarget

__all__ = ["endpoint_of", "run_probe"]

_log = logging.getLogger(__name__)
# Mechanisms that say nothing about the provider: no recovery attempt is made after them.
_OWN_FAULTS = frozenset({Mechanism.BUG})
# Our credentials or our quota: an immediate second session cannot heal a bad key and burns quota (the
# reconnect storms of docs/protocol.md 6, row 5), so no recovery attempt either.
_NO_RECOVERY_CAUSES = frozenset({Cause.QUOTA, Cause.AUTH})
_CLOSE_MECHANISMS = frozenset({Mechanism.SERVER_CLOSE, Mechanism.NO_CLOSE_FRAME, Mechanism.KEEPALIVE})


def endpoint_of(target: ProbeTarget) -> Endpoint:
    """The connection parameters of a target (ValueError for a model the URL's API cannot name)."""
    return Endpoint(
        url=target.url,
        auth=target.auth.value,
        key=target.api_key.get_secret_value(),
        model=wire.model_resource(target.model, target.url),
        setup=target.setup,
        heartbeat=target.keepalive_seconds,
    )


async def run_probe(
    target: ProbeTarget,
    kind: ProbeKind,
    *,
    http: aiohttp.ClientSession,
    clock: Clock = SYSTEM_CLOCK,
    run_id: str | None = None,
) -> ProbeResult:
    """Run one probe turn of `kind` against `target` and return its classified, timed result."""
    run_id = run_id or uuid.uuid4().hex
    started_at = clock.now()
    key = target.api_key.get_secret_value()
    trace = Trace()
    failed_at: float | None = None
    try:
        endpoint = endpoint_of(target)
        await converse(
            http, endpoint, plans.turn_plan(kind, target), budgets=target.budgets, clock=clock, trace=trace
        )
        observation, detail = _check(kind, target, trace)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the one boundary where failures become outcomes
        failed_at = clock.monotonic()
        observation = observe(error)
        detail = redact(str(error), key)
        if observation.mechanism is Mechanism.BUG:
            detail = redact(f"{type(error).__name__}: {error}", key)
            _log_bug(error, key)
    try:
        result = _result(target, kind, run_id, started_at, trace, observation, detail[:300], failed_at)
        if (
            observation is not None
            and target.recover
            and observation.mechanism not in _OWN_FAULTS
            and result.cause not in _NO_RECOVERY_CAUSES
        ):
            recovery = await _recover(http, target, clock, trace.handle)
            result = replace(result, recovery=recovery)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - a bug in building the record must still yield a record
        _log_bug(error, key)
        return ProbeResult(
            run_id=run_id, started_at=started_at, vantage=target.vantage, endpoint=target.endpoint,
            model=target.model, probe=kind, outcome=Outcome.PROBER_ERROR, phase=trace.phase,
            detail=redact(f"{type(error).__name__}: {error}", key)[:300],
        )  # fmt: skip
    return result


async def _recover(http: aiohttp.ClientSession, target: ProbeTarget, clock: Clock, handle: str) -> Recovery:
    """The one recovery attempt, measured from its start to its turnComplete (or its failure)."""
    start = clock.monotonic()
    trace = Trace()
    kind = recovery_kind(handle)
    try:
        recovered = await run_recovery(
            http, endpoint_of(target), target, clock=clock, handle=handle, trace=trace
        )
        detail = "" if recovered else Outcome.EMPTY_TURN.value
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the recovery's own failure is part of the record
        recovered = False
        outcome, cause = classify(observe(error))
        detail = f"{outcome.value} {cause.value}"
    end = trace.marks.get("turn_complete") if recovered else None
    seconds = (end if end is not None else clock.monotonic()) - start
    outcome_ = RecoveryOutcome.OK if recovered else RecoveryOutcome.FAILED
    return Recovery(kind=kind, outcome=outcome_, seconds=max(0.0, seconds), detail=detail)


def _log_bug(error: BaseException, key: str) -> None:
    text = "".join(traceback.format_exception(error))
    _log.error("probe bug (prober_error): %s", redact(text, key))


def _span(
    timings: dict[TimingPhase, float], phase: TimingPhase, marks: Mapping[str, float], start: str, end: str
) -> None:
    if start in marks and end in marks:
        timings[phase] = max(0.0, marks[end] - marks[start])


def _check(kind: ProbeKind, target: ProbeTarget, trace: Trace) -> tuple[Observation | None, str]:
    """Checks on a completed turn: something came back, the audio is real, the transcript is there."""
    transcript = "".join(trace.transcript).strip()
    text = "".join(trace.text).strip()
    if not trace.audio and not transcript and not text:
        return Observation(mechanism=Mechanism.EMPTY_TURN), "turnComplete with no audio and no transcript"
    if _wants_audio(target):
        audio = check_audio(trace.audio)
        if audio.problem:
            return Observation(mechanism=Mechanism.VALIDATION), audio.problem
    if kind is ProbeKind.TEXT and plans.wants(target, "outputAudioTranscription") and not transcript:
        return Observation(mechanism=Mechanism.VALIDATION), "the output transcript is empty"
    if kind is ProbeKind.TOOL and trace.tool_calls == 0:
        return Observation(mechanism=Mechanism.VALIDATION), "the model answered without calling the tool"
    return None, ""


def _wants_audio(target: ProbeTarget) -> bool:
    setup = target.setup if target.setup is not None else wire.default_setup_payload()
    config: Mapping[str, object] = setup.get("generationConfig", setup.get("generation_config")) or {}
    modalities = config.get("responseModalities", config.get("response_modalities")) or ["AUDIO"]
    return isinstance(modalities, list) and "AUDIO" in modalities


def _result(  # noqa: PLR0917 - private assembly of the record from the run's parts
    target: ProbeTarget,
    kind: ProbeKind,
    run_id: str,
    started_at: datetime,
    trace: Trace,
    observation: Observation | None,
    detail: str,
    failed_at: float | None,
) -> ProbeResult:
    marks = trace.marks
    sent = marks.get("turn_sent")
    origin = sent if sent is not None else marks.get("turn_start", marks.get("connect_start", 0.0))
    timings: dict[TimingPhase, float] = {}
    _span(timings, TimingPhase.CONNECT, marks, "connect_start", "connected")
    _span(timings, TimingPhase.SETUP, marks, "setup_sent", "setup_complete")
    _span(timings, TimingPhase.FIRST_RESPONSE, marks, "turn_sent", "first_content")
    _span(timings, TimingPhase.FIRST_AUDIO, marks, "turn_sent", "first_audio")
    _span(timings, TimingPhase.TURN, marks, "turn_sent", "turn_complete")
    ending = trace.ending
    outcome, cause, code, phase = Outcome.OK, Cause.NONE, None, Phase.NONE
    if observation is not None:
        outcome, cause = classify(observation)
        if observation.mechanism in (Mechanism.EMPTY_TURN, Mechanism.VALIDATION):
            failed_at = marks.get("turn_complete", failed_at)
            phase = Phase.FIRST_RESPONSE if observation.mechanism is Mechanism.EMPTY_TURN else Phase.STREAMING
        else:
            phase = trace.phase
        if observation.mechanism in _CLOSE_MECHANISMS and ending is not None:
            failed_at = ending.at
        if outcome in (Outcome.SERVER_CLOSE, Outcome.CONNECTION_LOST, Outcome.HANDSHAKE_REJECTED):
            code = observation.code
        if failed_at is not None:
            failure_origin = sent if sent is not None else marks.get("connect_start", failed_at)
            timings[TimingPhase.FAILURE] = max(0.0, failed_at - failure_origin)
    usage = trace.usage
    return ProbeResult(
        run_id=run_id,
        started_at=started_at,
        vantage=target.vantage,
        endpoint=target.endpoint,
        model=target.model,
        probe=kind,
        outcome=outcome,
        cause=cause,
        code=code,
        phase=phase,
        close_reason=ending.reason if ending is not None and ending.initiator == "server" else "",
        close_initiator=ending.initiator if ending is not None else "",
        timings=timings,
        messages=tuple((kind_, at - origin) for kind_, at in trace.messages),
        audio_seconds=check_audio(trace.audio).seconds if trace.audio else 0.0,
        prompt_tokens=usage.prompt_tokens if usage else None,
        response_tokens=usage.response_tokens if usage else None,
        detail=detail,
    )
