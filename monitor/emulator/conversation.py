"""The model's side of one turn: the happy path of docs/protocol.md 3.8, with the fault hooks on it.

Sequence: [sessionResumptionUpdate {}] (right after the turn arrives, as in incident 000) ->
[inputTranscription, for audio] -> [toolCall, then wait for the toolResponse with its id] -> n x modelTurn
audio chunks (24 kHz s16le, 40-240 ms) interleaved with outputTranscription pieces -> generationComplete ->
turnComplete + usageMetadata -> [sessionResumptionUpdate {newHandle, resumable: true}].

Tool rule: the model calls a declared function when the text of the turn mentions its name (case-insensitive);
the first declared function mentioned wins; audio turns never call functions.
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from monitor.emulator.wire import ServerWire

__all__ = ["Reply", "Turn", "function_to_call", "respond"]

_AUDIO_TOKENS_PER_SECOND = 25
# The real service counts system overhead in promptTokenCount (docs/protocol.md 3.6).
_SYSTEM_OVERHEAD_TOKENS = 500
INPUT_TRANSCRIPT = "Hello, can you hear me?"


@dataclass(frozen=True, slots=True)
class Turn:
    kind: str  # "text" or "audio"
    text: str = ""
    audio_bytes: int = 0  # 16 kHz s16le bytes received


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
    await_tool_response: Callable[[], Awaitable[dict[str, Any] | None]]

    async def pause(self, range_ms: tuple[float, float]) -> None:
        if self.latency_scale > 0:
            await asyncio.sleep(self.rng.uniform(*range_ms) * self.latency_scale / 1000)

    async def content(self, content: dict[str, Any]) -> None:
        await self.wire.send({"serverContent": content})


def function_to_call(setup: dict[str, Any], text: str) -> str | None:
    for tool in setup.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            name = str(declaration.get("name") or "")
            if name and re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
                return name
    return None


async def respond(reply: Reply, turn: Turn) -> bool:
    """Answer one turn; True when the session ended on the way (a fault, a refused toolResponse)."""
    if "sessionResumption" in reply.setup:
        await reply.wire.send({"sessionResumptionUpdate": {}})
    if await reply.faults.strike(Location.AFTER_RESUMPTION_UPDATE, reply.strike):
        return True
    if turn.kind == "audio" and "inputAudioTranscription" in reply.setup:
        await reply.content({"inputTranscription": {"text": INPUT_TRANSCRIPT, "finished": True}})
    await reply.pause(reply.caps.latency.first_response)
    function = function_to_call(reply.setup, turn.text) if turn.kind == "text" else None
    if function is not None:
        if await _call_function(reply, function):
            return True
        if await reply.faults.strike(Location.AFTER_TOOL_RESPONSE, reply.strike):
            return True
        await reply.pause(reply.caps.latency.first_response)
    audio_seconds = 0.0
    if reply.faults.has(FaultKind.EMPTY_TURN) is None:
        streamed = await _stream_audio(reply)
        if streamed is None:
            return True
        audio_seconds = streamed
        await reply.content({"generationComplete": True})
    usage = _usage(reply, turn, audio_seconds)
    await reply.wire.send({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
    if "sessionResumption" in reply.setup:
        await reply.issue_handle()
    return False


async def _call_function(reply: Reply, name: str) -> bool:
    if not reply.caps.function_calling:
        await reply.wire.close(1008, REASONS["not_implemented"])
        return True
    call_id = f"function-call-{secrets.token_hex(6)}"
    await reply.pause(reply.caps.latency.tool_call)
    await reply.wire.send({"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": {}}]}})
    response = await reply.await_tool_response()
    if response is None:
        return True
    ids = [str(r.get("id") or "") for r in response.get("functionResponses") or []]
    if call_id not in ids:
        await reply.wire.close(1008, REASONS["entity_not_found"])
        return True
    return False


async def _stream_audio(reply: Reply) -> float | None:
    """Send the audio and transcript; the seconds of audio sent, or None when a fault ended the session."""
    silent = reply.faults.has(FaultKind.SILENT_AUDIO) is not None
    audio = silence_like(reply_audio()) if silent else reply_audio()
    chunks = chunk_audio(audio, reply.rng)
    transcribe = "outputAudioTranscription" in reply.setup and not silent
    pieces = transcript_pieces(REPLY_TRANSCRIPT, max(1, len(chunks) // 3)) if transcribe else []
    every = max(1, len(chunks) // max(1, len(pieces))) if pieces else 0
    for index, chunk in enumerate(chunks):
        if await _strike_mid_stream(reply, index):
            return None
        data = base64.b64encode(chunk).decode("ascii")
        part = {"inlineData": {"mimeType": OUTPUT_MIME_TYPE, "data": data}}
        await reply.content({"modelTurn": {"role": "model", "parts": [part]}})
        if pieces and index % every == 0:
            await reply.content({"outputTranscription": {"text": pieces.pop(0)}})
        await reply.pause(reply.caps.latency.chunk_gap)
    for piece in pieces:
        await reply.content({"outputTranscription": {"text": piece}})
    if await _strike_mid_stream(reply, len(chunks), last=True):
        return None
    return len(audio) / 48_000


async def _strike_mid_stream(reply: Reply, sent: int, *, last: bool = False) -> bool:
    due = [
        f
        for f in reply.faults.at(Location.MID_STREAM)
        if f.after_chunks == sent or (last and f.after_chunks > sent)
    ]
    return bool(due) and await reply.faults.strike(Location.MID_STREAM, reply.strike, due)


def _usage(reply: Reply, turn: Turn, audio_seconds: float) -> dict[str, Any]:
    prompt_modality = "AUDIO" if turn.kind == "audio" else "TEXT"
    prompt = _SYSTEM_OVERHEAD_TOKENS + (
        round(turn.audio_bytes / 32_000 * _AUDIO_TOKENS_PER_SECOND)
        if turn.kind == "audio"
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
