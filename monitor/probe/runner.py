"""run_probe(): one probe turn against one target, returned as one ProbeResult. Never raises (but cancels).

This is the only place where exceptions become outcomes: the conversation raises typed `LiveError`s, the
checks here find empty or invalid turns, `classify` names them, and anything else is `prober_error` (our
bug, logged with a redacted traceback, never counted against the provider). After a provider-side failure
one recovery turn runs (`recovery.py`); it is recorded beside the failure and never replaces it.

The session's credential comes first (`credentials.py`: the API key, a refreshed OAuth token, or a token
minted for this session); when none can be had the record is `credentials_error` in phase `credentials` or
`token`, and no Live session is attempted. Every credential value is redacted from details and logs.

Whatever a server sent, the record is safe to store and show: the detail is cut and has control characters and
lone surrogates escaped (`bounds.safe_text`), message kinds were bounded where they were parsed, and a record
whose JSON exceeds `ProbeLimits.record_bytes` has its message list cut further (the count goes to
`messages_dropped`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import aiohttp

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.live import messages as wire
from monitor.live.bounds import kind_name, safe_text
from monitor.live.conversation import DROPPED_KIND, Endpoint, Trace, converse
from monitor.live.session import redact
from monitor.probe import plans
from monitor.probe.audio import AudioCheck, check_audio
from monitor.probe.classify import Mechanism, Observation, classify, observe
from monitor.probe.credentials import Credential
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryOutcome
from monitor.probe.recovery import recovery_kind, run_recovery
from monitor.probe.target import ProbeTarget

__all__ = ["endpoint_of", "longest_run", "run_probe"]

_log = logging.getLogger(__name__)
# Mechanisms after which no recovery attempt is made: our bug, and no credential (a recovery session would
# need the credential that could not be had; the token service's failure is recorded as it is).
_OWN_FAULTS = frozenset({Mechanism.BUG, Mechanism.CREDENTIALS})
# Our credentials or our quota: an immediate second session cannot heal a bad key and burns quota (the
# reconnect storms real clients have caused), so no recovery attempt either.
_NO_RECOVERY_CAUSES = frozenset({Cause.QUOTA, Cause.AUTH})
_CLOSE_MECHANISMS = frozenset({Mechanism.SERVER_CLOSE, Mechanism.NO_CLOSE_FRAME, Mechanism.KEEPALIVE})


def endpoint_of(target: ProbeTarget, credential: Credential | None = None) -> Endpoint:
    """The connection parameters of a target with the session's credential (default: the static API key);
    ValueError for a model the URL's API cannot name."""
    if credential is None:
        credential = Credential(target.auth.value, target.api_key.get_secret_value())
    return Endpoint(
        url=target.url,
        auth=credential.auth,
        key=credential.value,
        headers=credential.headers,
        model=wire.model_resource(target.model_prefix + target.model, target.url),
        setup=target.setup,
        heartbeat=target.keepalive_seconds,
    )


async def _session_endpoint(
    target: ProbeTarget, http: aiohttp.ClientSession, clock: Clock, trace: Trace, secrets: list[str]
) -> Endpoint:
    """The endpoint with a fresh credential from the target's source; its value joins `secrets`."""
    credential = None
    if target.credentials is not None:
        secrets.extend(target.credentials.secrets())  # before the call: its failure may echo them
        credential = await target.credentials.credential(http, clock, trace)
        secrets.append(credential.value)
    return endpoint_of(target, credential)


def longest_run(target: ProbeTarget, kind: ProbeKind) -> float:
    """The longest one `run_probe` can take, whatever the server does (docs/probe.md, "Timings").

    A session: its credential + connect + setup + turn + the audio pacing + the close limit, and once more
    credential + connect + setup + close for a goAway reconnect; the recovery attempt is one more text
    session under the same bounds.
    """
    budgets, close = target.budgets, target.limits.close_seconds
    plan = plans.turn_plan(kind, target)
    session = 2 * (budgets.credentials + budgets.connect + budgets.setup + close) + budgets.turn
    pacing = len(plan.messages) * plan.pace_seconds
    return session + pacing + (session if target.recover else 0.0)


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
    secrets = [target.api_key.get_secret_value()]
    trace = Trace.within(target.limits)
    failed_at: float | None = None
    audio: AudioCheck | None = None  # the audio check, once it has run
    try:
        endpoint = await _session_endpoint(target, http, clock, trace, secrets)
        plan = plans.turn_plan(kind, target)
        await converse(
            http, endpoint, plan, budgets=target.budgets, limits=target.limits, clock=clock, trace=trace
        )
        observation, detail, audio = _check(kind, target, trace)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the one boundary where failures become outcomes
        # When the failure was detected: the conversation marks it before closing (our close handshake
        # may wait up to limits.close_seconds for a server that never answers it).
        failed_at = trace.marks.get("failed", clock.monotonic())
        observation = observe(error)
        detail = _redacted(str(error), secrets)
        if observation.mechanism is Mechanism.BUG:
            detail = _redacted(f"{type(error).__name__}: {error}", secrets)
            _log_bug(error, secrets)
    try:
        result = _result(
            target, kind, run_id, started_at, trace, observation, safe_text(detail), failed_at,
            audio_seconds=_audio_seconds(trace, audio), secrets=secrets,
        )  # fmt: skip
        if (
            observation is not None
            and target.recover
            and observation.mechanism not in _OWN_FAULTS
            and result.cause not in _NO_RECOVERY_CAUSES
        ):
            recovery = await _recover(http, target, clock, trace.handle, secrets)
            result = replace(result, recovery=recovery)
        result = _within_record_limit(result, target.limits.record_bytes)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - a bug in building the record must still yield a record
        _log_bug(error, secrets)
        return ProbeResult(
            run_id=run_id, started_at=started_at, vantage=target.vantage, endpoint=target.endpoint,
            model=target.model, probe=kind, outcome=Outcome.PROBER_ERROR, phase=trace.phase,
            detail=safe_text(_redacted(f"{type(error).__name__}: {error}", secrets)),
        )  # fmt: skip
    return result


def _within_record_limit(result: ProbeResult, limit: int) -> ProbeResult:
    """`result` with messages cut from the middle of its list until its JSON record fits in `limit` bytes."""
    if _record_bound(result) <= limit:
        return result  # nearly every turn: a few kB of record against a limit of tens of kB
    while len(result.messages) > 2 and _record_bytes(result) > limit:
        messages = [entry for entry in result.messages if entry[0] != DROPPED_KIND]
        keep = max(1, len(messages) // 4)
        cut = messages[keep:-keep]
        if not cut:
            break
        kept = (*messages[:keep], (DROPPED_KIND, cut[0][1]), *messages[-keep:])
        result = replace(result, messages=kept, messages_dropped=result.messages_dropped + len(cut))
    return result


def _record_bytes(result: ProbeResult) -> int:
    """The size of the record's JSON as the store writes it (json.dumps)."""
    return len(json.dumps(result.to_record()).encode())


# What a record's JSON holds besides its free strings and messages: the field names, the enum values, the
# timings and tokens, the recovery and punctuation (under 700 bytes; twice that for margin).
_RECORD_FIXED_BYTES = 1400

# A message kind holding this many leading characters of a credential is dropped from the record (a kind keeps
# up to `bounds.KIND_CHARS` of a server's key, so a key echoed after other text shows only its start).
_SECRET_HEAD_CHARS = 8
_SECRET_MIN_CHARS = 4


def _record_bound(result: ProbeResult) -> int:
    """An upper bound on the record's JSON size, without building it: every character of a free string at
    most 12 bytes (an astral character as two escaped surrogates), every message entry at most 40 bytes
    besides its kind (brackets, separators and a 24-character number)."""
    recovery = result.recovery.detail if result.recovery is not None else ""
    texts = (result.run_id, result.vantage, result.endpoint, result.model, result.close_reason, result.detail)
    chars = sum(map(len, texts)) + len(recovery) + sum(len(kind) for kind, _ in result.messages)
    return 12 * chars + 40 * len(result.messages) + _RECORD_FIXED_BYTES


async def _recover(
    http: aiohttp.ClientSession, target: ProbeTarget, clock: Clock, handle: str, secrets: list[str]
) -> Recovery:
    """The one recovery attempt, measured from its start to its turnComplete (or its failure)."""
    start = clock.monotonic()
    trace = Trace.within(target.limits)
    kind = recovery_kind(handle)
    try:
        endpoint = await _session_endpoint(target, http, clock, trace, secrets)
        recovered = await run_recovery(http, endpoint, target, clock=clock, handle=handle, trace=trace)
        detail = "" if recovered else Outcome.EMPTY_TURN.value
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the recovery's own failure is part of the record
        recovered = False
        outcome, cause = classify(observe(error))
        detail = f"{outcome.value} {cause.value}"
    end = trace.marks.get("turn_complete") if recovered else trace.marks.get("failed")
    seconds = (end if end is not None else clock.monotonic()) - start
    outcome_ = RecoveryOutcome.OK if recovered else RecoveryOutcome.FAILED
    return Recovery(kind=kind, outcome=outcome_, seconds=max(0.0, seconds), detail=detail)


def _redacted(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = redact(text, secret)
    return text


def _secret_heads(secrets: list[str]) -> tuple[str, ...]:
    """What betrays a secret inside a message kind: the first characters of the secret as it is and as
    `bounds.kind_name` rewrites an unknown key (cut to its first characters, `[^A-Za-z0-9_]` as `_`).
    A kind is a server's own key, so a server echoing the credential as a key would otherwise store it."""
    heads = set()
    for secret in secrets:
        for form in (secret, kind_name(secret).partition("~")[0]):
            if len(form) >= _SECRET_MIN_CHARS:  # a shorter one (a test key) would match ordinary kinds
                heads.add(form[:_SECRET_HEAD_CHARS])
    return tuple(heads)


def _redacted_kind(kind: str, heads: tuple[str, ...]) -> str:
    # `~` marks a rewritten kind (`bounds.kind_name` never leaves one in a server's key), so this cannot be
    # mistaken for a key the server really sent.
    return f"redacted~{len(kind)}" if any(head in kind for head in heads) else kind


def _log_bug(error: BaseException, secrets: list[str]) -> None:
    text = "".join(traceback.format_exception(error))
    _log.error("probe bug (prober_error): %s", _redacted(text, secrets))


def _span(
    timings: dict[TimingPhase, float], phase: TimingPhase, marks: Mapping[str, float], start: str, end: str
) -> None:
    if start in marks and end in marks:
        timings[phase] = max(0.0, marks[end] - marks[start])


def _check(
    kind: ProbeKind, target: ProbeTarget, trace: Trace
) -> tuple[Observation | None, str, AudioCheck | None]:
    """Checks on a completed turn: something came back, the audio is real, the transcript is there.

    The audio check is returned when it ran, so the record's duration comes from the same decoding."""
    transcript = "".join(trace.transcript).strip()
    text = "".join(trace.text).strip()
    if not trace.audio and not transcript and not text:
        empty = "turnComplete with no audio and no transcript"
        return Observation(mechanism=Mechanism.EMPTY_TURN), empty, None
    audio = None
    if _wants_audio(target):
        audio = _audio_check(trace)
        if audio.problem:
            return Observation(mechanism=Mechanism.VALIDATION), audio.problem, audio
    if kind is ProbeKind.TEXT and plans.wants(target, "outputAudioTranscription") and not transcript:
        return Observation(mechanism=Mechanism.VALIDATION), "the output transcript is empty", audio
    if kind is ProbeKind.TOOL and trace.tool_calls == 0:
        untooled = "the model answered without calling the tool"
        return Observation(mechanism=Mechanism.VALIDATION), untooled, audio
    return None, "", audio


def _audio_check(trace: Trace) -> AudioCheck:
    return check_audio(
        trace.audio, dropped_bytes=trace.audio_dropped_bytes, dropped_mimes=trace.dropped_mimes
    )


def _audio_seconds(trace: Trace, audio: AudioCheck | None) -> float:
    """The returned audio's duration: from the check when it ran (decoding the audio once), else checked now
    (a failed turn, or a setup without AUDIO that was answered with audio anyway)."""
    if audio is not None:
        return audio.seconds
    if trace.audio or trace.audio_dropped_bytes:
        return _audio_check(trace).seconds
    return 0.0


def _wants_audio(target: ProbeTarget) -> bool:
    setup = target.setup if target.setup is not None else wire.default_setup_view()
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
    *,
    audio_seconds: float,
    secrets: list[str],
) -> ProbeResult:
    marks = trace.marks
    heads = _secret_heads(secrets)
    sent = marks.get("turn_sent")
    origin = sent if sent is not None else marks.get("turn_start", marks.get("connect_start", 0.0))
    timings: dict[TimingPhase, float] = {}
    _span(timings, TimingPhase.TOKEN, marks, "token_start", "token_end")
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
        if outcome in (
            Outcome.SERVER_CLOSE,
            Outcome.CONNECTION_LOST,
            Outcome.HANDSHAKE_REJECTED,
            Outcome.CREDENTIALS_ERROR,
        ):
            code = observation.code
        if failed_at is not None:
            before_turn = marks.get("connect_start", marks.get("token_start", failed_at))
            failure_origin = sent if sent is not None else before_turn
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
        # The server's exact text (at most 123 bytes), with any control character made visible and any
        # credential it echoes back (a proxy quoting the request, say) replaced by ***.
        close_reason=(
            safe_text(_redacted(ending.reason, secrets))
            if ending is not None and ending.initiator == "server"
            else ""
        ),
        close_initiator=ending.initiator if ending is not None else "",
        timings=timings,
        messages=tuple((_redacted_kind(kind_, heads), at - origin) for kind_, at in trace.messages),
        audio_seconds=audio_seconds,
        messages_dropped=trace.messages.dropped,
        prompt_tokens=usage.prompt_tokens if usage else None,
        response_tokens=usage.response_tokens if usage else None,
        detail=detail,
    )
