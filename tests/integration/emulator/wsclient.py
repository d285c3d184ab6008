"""A raw aiohttp WebSocket client for the emulator tests: speaks the wire directly, not through our probe."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

GEMINI = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"
VERTEX = "/ws/google.cloud.aiplatform.{}.LlmBidiService/BidiGenerateContent"
KEY = {"x-goog-api-key": "test-key"}


def setup(model: str = "gemini-2.5-flash-native-audio-preview-09-2025", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": f"models/{model}",
        "generationConfig": {"responseModalities": ["AUDIO"]},
        "sessionResumption": {},
        "outputAudioTranscription": {},
        "inputAudioTranscription": {},
        "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
        "tools": [{"functionDeclarations": [{"name": "get_probe_status", "description": "d"}]}],
    }
    body.update(extra)
    return {"setup": body}


def text_turn(text: str = "Say OK") -> dict[str, Any]:
    return {"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}}


def audio_chunk(seconds: float = 0.1, *, rate: int = 16_000, speech: bool = False) -> dict[str, Any]:
    """`seconds` of s16le mono PCM: digital silence, or (speech=True) a 220 Hz tone at about -13 dBFS."""
    count = int(rate * seconds)
    if speech:
        samples = (np.sin(np.arange(count) * 2 * np.pi * 220 / rate) * 10_000).astype("<i2")
        pcm = samples.tobytes()
    else:
        pcm = bytes(2 * count)
    data = base64.b64encode(pcm).decode()
    return {"realtimeInput": {"audio": {"mimeType": f"audio/pcm;rate={rate}", "data": data}}}


@dataclass
class Transcript:
    """What the server sent: parsed messages, then how the socket ended."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    frame_types: list[aiohttp.WSMsgType] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def kinds(self) -> list[str]:
        kinds = []
        for message in self.messages:
            for key, value in message.items():
                if key == "serverContent":
                    kinds.extend(f"serverContent.{k}" for k in value)
                else:
                    kinds.append(key)
        return kinds

    def audio(self) -> bytes:
        return b"".join(
            base64.b64decode(part["inlineData"]["data"])
            for m in self.messages
            for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
        )

    def transcript(self) -> str:
        return "".join(
            m["serverContent"]["outputTranscription"]["text"]
            for m in self.messages
            if "outputTranscription" in m.get("serverContent", {})
        )


class Client:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen = Transcript()

    async def send(self, message: Mapping[str, Any], *, binary: bool = False) -> None:
        text = json.dumps(message)
        if binary:
            await self.ws.send_bytes(text.encode())
        else:
            await self.ws.send_str(text)

    async def receive(self, wait: float = 5.0) -> dict[str, Any] | None:
        """The next server message, or None when the socket ended (see `seen.close_code`)."""
        frame = await self.ws.receive(timeout=wait)
        if frame.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            self.seen.frame_types.append(frame.type)
            message: dict[str, Any] = json.loads(frame.data)
            self.seen.messages.append(message)
            return message
        self.seen.close_code = self.ws.close_code
        self.seen.close_reason = str(frame.extra or "")
        return None

    async def until(self, key: str, wait: float = 5.0) -> dict[str, Any] | None:
        """Read until a message with `key` (or serverContent.`key`) arrives or the socket ends."""
        while (message := await self.receive(wait)) is not None:
            if key in message or key in message.get("serverContent", {}):
                return message
        return None

    async def until_end(self, wait: float = 5.0) -> Transcript:
        while await self.receive(wait) is not None:
            pass
        return self.seen


@asynccontextmanager
async def connect(url: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers=dict(KEY if headers is None else headers), **kwargs) as ws,
    ):
        yield Client(ws)
