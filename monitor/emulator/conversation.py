"""The model's side of one turn: the happy path of the service's typical sequence, with fault and interruption
hooks on it.

Sequence: [sessionResumptionUpdate {}] (right after the turn arrives, as in incident 000: the model is now
generating, so the update is not resumable; proto3 JSON omits `resumable: false` and the empty handle) ->
[inputTranscription pieces, for audio] -> [toolCall; BLOCKING: wait for the toolResponse with its id] ->
n x modelTurn audio chunks (24 kHz s16le, 40-240 ms) interleaved with outputTranscription pieces ->
generationComplete -> turnComplete + usageMetadata -> [sessionResumptionUpdate {newHandle, resumable: true}].

Interrupted (the dialogue sets `Reply.interruption`): the rest is dropped and the turn ends
`interrupted` -> turnComplete (google-genai's `LiveServerContent.generation_complete` docstring: no
generationComplete in an interrupted turn); a BLOCKING call still awaited is cancelled (toolCallCancellation).

Tool rule: the model calls a declared function when the text of the turn mentions its name (case-insensitive);
the first declared function mentioned wins; audio turns never call functions. A NON_BLOCKING call (the default
on gemini-3.8-live) does not hold the answer: the model keeps speaking and the result arrives as its own turn.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitor.emulator.audio import (
    OUTPUT_MIME_TYPE,
    REPLY_TRANSCRIPT,
    chunk_audio,
    reply_audio,
    silence_like,
    transcript_pieces,
)
from monitor.emulator.faults import ConnectionFaults, Strike
from monitor.emulator.models import ModelCapabilities
from monitor.emulator.paths import Api
from monitor.emulator.reasons import REASONS
from monitor.emulator.scenarios import FaultKind, Location
from monitor.emulator.transcripts import input_transcript_pieces
from monitor.emulator.wire import ServerWire

__all__ = [
    "Ending",
    "Reply",
    "ToolCalls",
    "Turn",
    "TurnKind",
    "function_behavior",
    "function_to_call",
    "respond",
]

_AUDIO_TOKENS_PER_SECOND = 25
_SYSTEM_OVERHEAD_TOKENS = 500  # the real service counts system overhead in promptTokenCount


class TurnKind(StrEnum):
    TEXT = "text"
    AUDIO = "audio"
    TOOL_RESULT = "tool_result"  # a NON_BLOCKING function's result, answered as its own turn


class Ending(StrEnum):
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    SESSION_ENDED = "session_ended"  # a fault or a refusal closed the connection


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn the model answers."""

    kind: TurnKind
    text: str = ""
    audio_seconds: float = 0.0  # of input audio in the turn
    transcript: str = ""  # what the model heard (audio turns)


@dataclass(slots=True)
class ToolCalls:
    """Function calls the model has made and not yet had answered, shared by the dialogue and the answer."""

    blocking: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    non_blocking: set[str] = field(default_factory=set)

    def await_blocking(self, call_id: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.blocking[call_id] = future
        return future


@dataclass(slots=True)
class Reply:
    """Everything one turn's answer needs from its session."""

    wire: ServerWire
    caps: ModelCapabilities
    api: Api
    setup: dict[str, Any]
    faults: ConnectionFaults
    strike: Strike
    rng: random.Random
    latency_scale: float
    issue_handle: Callable[[], Awaitable[None]]
    tool_calls: ToolCalls
    interruption: asyncio.Event = field(default_factory=asyncio.Event)

    async def pause(self, range_ms: tuple[float, float]) -> bool:
        """Wait an emulated latency; True when the answer was interrupted meanwhile."""
        if self.interruption.is_set():
            return True
        if self.latency_scale <= 0:
            return False
        delay = self.rng.uniform(*range_ms) * self.latency_scale / 1000
        try:
            await asyncio.wait_for(self.interruption.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def content(self, content: dict[str, Any]) -> None:
        await self.wire.send({"serverContent": content})


def function_to_call(setup: dict[str, Any], text: str) -> str | None:
    for tool in setup.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            name = str(declaration.get("name") or "")
            if name and re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
                return name
    return None


def function_behavior(setup: dict[str, Any], name: str, caps: ModelCapabilities) -> str:
    """BLOCKING or NON_BLOCKING: the declaration's `behavior`, else the model's default."""
    for tool in setup.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            if declaration.get("name") == name and declaration.get("behavior") in (
                "BLOCKING",
                "NON_BLOCKING",
            ):
                return str(declaration["behavior"])
    return caps.default_function_behavior


async def respond(reply: Reply, turn: Turn) -> Ending:
    """Answer one turn."""
    if "sessionResumption" in reply.setup:
        await reply.wire.send({"sessionResumptionUpdate": {}})
    if await reply.faults.strike(Location.AFTER_RESUMPTION_UPDATE, reply.strike):
        return Ending.SESSION_ENDED
    if turn.kind is TurnKind.AUDIO and "inputAudioTranscription" in reply.setup:
        pieces = input_transcript_pieces(turn.transcript)
        for index, piece in enumerate(pieces):
            heard: dict[str, Any] = {"text": piece}
            if index == len(pieces) - 1:
                heard["finished"] = True
            await reply.content({"inputTranscription": heard})
    if turn.kind is TurnKind.TOOL_RESULT and await reply.faults.strike(
        Location.AFTER_TOOL_RESPONSE, reply.strike
    ):
        return Ending.SESSION_ENDED
    if await reply.pause(reply.caps.latency.first_response):
        return await _interrupted(reply, turn, 0.0)
    function = function_to_call(reply.setup, turn.text) if turn.kind is TurnKind.TEXT else None
    if function is not None:
        called = await _call_function(reply, function)
        if called is not Ending.COMPLETED:
            return called if called is Ending.SESSION_ENDED else await _interrupted(reply, turn, 0.0)
    audio_seconds = 0.0
    if reply.faults.has(FaultKind.EMPTY_TURN) is None:
        audio_seconds, ending = await _stream_audio(reply)
        if ending is Ending.SESSION_ENDED:
            return ending
        if ending is Ending.INTERRUPTED:
            return await _interrupted(reply, turn, audio_seconds)
        await reply.content({"generationComplete": True})
    usage = _usage(reply, turn, audio_seconds)
    await reply.wire.send({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
    if "sessionResumption" in reply.setup:
        await reply.issue_handle()
    return Ending.COMPLETED


async def _interrupted(reply: Reply, turn: Turn, audio_seconds: float) -> Ending:
    await reply.content({"interrupted": True})
    usage = _usage(reply, turn, audio_seconds)
    await reply.wire.send({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
    if "sessionResumption" in reply.setup:
        await reply.issue_handle()
    return Ending.INTERRUPTED


async def _call_function(reply: Reply, name: str) -> Ending:
    """Make the call; COMPLETED when the answer may go on (BLOCKING: its response arrived)."""
    if not reply.caps.function_calling:
        await reply.wire.close(1008, REASONS["not_implemented"])
        return Ending.SESSION_ENDED
    call_id = f"function-call-{secrets.token_hex(6)}"
    if await reply.pause(reply.caps.latency.tool_call):
        return Ending.INTERRUPTED
    blocking = function_behavior(reply.setup, name, reply.caps) == "BLOCKING"
    future = reply.tool_calls.await_blocking(call_id) if blocking else None
    if future is None:
        reply.tool_calls.non_blocking.add(call_id)
    await reply.wire.send({"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": {}}]}})
    if future is None:
        return Ending.COMPLETED
    interrupted: asyncio.Future[Any] = asyncio.ensure_future(reply.interruption.wait())
    try:
        await asyncio.wait([future, interrupted], return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupted.cancel()
        reply.tool_calls.blocking.pop(call_id, None)
    if not future.done():
        future.cancel()
        await reply.wire.send({"toolCallCancellation": {"ids": [call_id]}})
        return Ending.INTERRUPTED
    ids = [str(r.get("id") or "") for r in future.result().get("functionResponses") or []]
    if call_id not in ids:
        await reply.wire.close(1008, REASONS["entity_not_found"])
        return Ending.SESSION_ENDED
    if await reply.faults.strike(Location.AFTER_TOOL_RESPONSE, reply.strike):
        return Ending.SESSION_ENDED
    if await reply.pause(reply.caps.latency.first_response):
        return Ending.INTERRUPTED
    return Ending.COMPLETED


async def _stream_audio(reply: Reply) -> tuple[float, Ending]:
    """Send the audio and transcript: the seconds of audio sent and how the stream ended (INTERRUPTED, or
    SESSION_ENDED when a fault ended the session)."""
    silent = reply.faults.has(FaultKind.SILENT_AUDIO) is not None
    audio = silence_like(reply_audio()) if silent else reply_audio()
    chunks = chunk_audio(audio, reply.rng)
    transcribe = "outputAudioTranscription" in reply.setup and not silent
    pieces = transcript_pieces(REPLY_TRANSCRIPT, max(1, len(chunks) // 3)) if transcribe else []
    every = max(1, len(chunks) // max(1, len(pieces))) if pieces else 0
    sent = 0
    for index, chunk in enumerate(chunks):
        if await _strike_mid_stream(reply, index):
            return sent / 48_000, Ending.SESSION_ENDED
        if reply.interruption.is_set():
            return sent / 48_000, Ending.INTERRUPTED
        data = base64.b64encode(chunk).decode("ascii")
        part = {"inlineData": {"mimeType": OUTPUT_MIME_TYPE, "data": data}}
        await reply.content({"modelTurn": {"role": "model", "parts": [part]}})
        sent += len(chunk)
        if pieces and index % every == 0:
            await reply.content({"outputTranscription": {"text": pieces.pop(0)}})
        if await reply.pause(reply.caps.latency.chunk_gap):
            return sent / 48_000, Ending.INTERRUPTED
    for piece in pieces:
        await reply.content({"outputTranscription": {"text": piece}})
    if await _strike_mid_stream(reply, len(chunks), last=True):
        return sent / 48_000, Ending.SESSION_ENDED
    return sent / 48_000, Ending.COMPLETED


async def _strike_mid_stream(reply: Reply, sent: int, *, last: bool = False) -> bool:
    due = [
        f
        for f in reply.faults.at(Location.MID_STREAM)
        if f.after_chunks == sent or (last and f.after_chunks > sent)
    ]
    return bool(due) and await reply.faults.strike(Location.MID_STREAM, reply.strike, due)


def _usage(reply: Reply, turn: Turn, audio_seconds: float) -> dict[str, Any]:
    prompt_modality = "AUDIO" if turn.kind is TurnKind.AUDIO else "TEXT"
    prompt = _SYSTEM_OVERHEAD_TOKENS + (
        round(turn.audio_seconds * _AUDIO_TOKENS_PER_SECOND)
        if turn.kind is TurnKind.AUDIO
        else max(1, len(turn.text.split()) * 4 // 3)
    )
    response = round(audio_seconds * _AUDIO_TOKENS_PER_SECOND)
    response_key = "candidates" if reply.api is Api.VERTEX else "response"
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        f"{response_key}TokenCount": response,
        "totalTokenCount": prompt + response,
        "promptTokensDetails": [{"modality": prompt_modality, "tokenCount": prompt}],
    }
    if response:
        usage[f"{response_key}TokensDetails"] = [{"modality": "AUDIO", "tokenCount": response}]
    return usage
