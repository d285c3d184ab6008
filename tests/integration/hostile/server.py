"""A Live API server that misbehaves on purpose (aiohttp, 127.0.0.1, port 0): one script per failure mode.

Each mode answers setup like the real service, then does the one hostile thing: streams audio without end,
floods messages, never closes, sends keys and numbers no client expects, nests JSON 10k deep, sends a frame
larger than the client's limit, or dribbles its HTTP upgrade one byte at a time. The same modes drive
`benchmarks/hostile_memory.py`, so the suite and the memory figure test one server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Final

from aiohttp import WSMsgType, web

from tests.unit.live.scripted_server import PATH, Script, answer_turn, read_turn, send, setup_ok, speech

__all__ = ["MODES", "slow_loris"]

_AUDIO: Final = {
    "serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000"}}]}}
}
_CHUNK: Final = speech(0.2)  # 9.6 kB of loud 24 kHz PCM, base64


def _audio_frame() -> bytes:
    frame = json.loads(json.dumps(_AUDIO))
    frame["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"] = _CHUNK
    return json.dumps(frame).encode()


_AUDIO_FRAME: Final = _audio_frame()
_COMPLETE: Final = json.dumps({"serverContent": {"turnComplete": True}}).encode()


async def _ready(ws: web.WebSocketResponse) -> None:
    await setup_ok(ws)
    await read_turn(ws)


async def endless_audio(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Audio chunks as fast as the socket takes them, never a turnComplete (issue 13 item 1: 1.47 GB)."""
    await _ready(ws)
    while True:
        await ws.send_bytes(_AUDIO_FRAME)
        await asyncio.sleep(0)


async def long_audio_then_complete(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Four times the kept audio of the tests' limits, then a normal end of turn."""
    await _ready(ws)
    for _ in range(400):  # 400 x 9.6 kB = 3.84 MB of PCM = 80 s of 24 kHz audio
        await ws.send_bytes(_AUDIO_FRAME)
    await send(ws, {"serverContent": {"outputTranscription": {"text": "Paris."}}})
    await ws.send_bytes(_COMPLETE)
    await ws.receive()


def _endless(content: dict[str, object]) -> Script:
    """One 512 kB `serverContent` frame after another, never a turnComplete."""
    frame = json.dumps({"serverContent": content}).encode()

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        await _ready(ws)
        while True:
            await ws.send_bytes(frame)
            await asyncio.sleep(0)

    return script


_HALF_MB: Final = "Paris. " * (512 * 1024 // 7)


async def message_flood(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Small valid messages without end (210k messages / 7.7 MB of record in 6 s before the fix)."""
    await _ready(ws)
    frame = json.dumps({"sessionResumptionUpdate": {}}).encode()
    while True:
        await ws.send_bytes(frame)
        await asyncio.sleep(0)


async def never_closes(ws: web.WebSocketResponse, request: web.Request) -> None:
    """A complete turn, then frames without end; our close frame is never answered (121.6 s vs 50 s)."""
    await _ready(ws)
    await answer_turn(ws)
    frame = json.dumps({"sessionResumptionUpdate": {}}).encode()
    while True:
        await ws.send_bytes(frame)
        await asyncio.sleep(0.001)


def _then_turn(raw: str) -> Script:
    """After setup and the turn: one raw (text) frame, then a normal answer."""

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        await _ready(ws)
        await ws.send_str(raw)
        await answer_turn(ws)
        await ws.receive()

    return script


def _only(raw: str | bytes) -> Script:
    """After setup and the turn: one raw frame, then silence until the client leaves."""

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        await _ready(ws)
        if isinstance(raw, bytes):
            await ws.send_bytes(raw)
        else:
            await ws.send_str(raw)
        await ws.receive()

    return script


async def bad_frame_then_deaf(ws: web.WebSocketResponse, request: web.Request) -> None:
    """A frame that is not a message (a JSON array), then never reads again: our close is never answered."""
    await _ready(ws)
    await ws.send_str("[1,2,3]")
    await asyncio.sleep(3600)


async def empty_close(ws: web.WebSocketResponse, request: web.Request) -> None:
    """A close frame with no payload (no code, no reason), written raw: aiohttp's close() always sends one."""
    await _ready(ws)
    assert ws._writer is not None  # a hostile peer writes the frame itself
    await ws._writer.send_frame(b"", WSMsgType.CLOSE)
    await ws.receive()


async def silent_after_upgrade(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Reads the setup and never answers."""
    await ws.receive()
    await asyncio.sleep(3600)


async def bad_close_reason(ws: web.WebSocketResponse, request: web.Request) -> None:
    """A close frame whose reason is not UTF-8 (a WebSocket protocol violation)."""
    await _ready(ws)
    await ws.close(code=1011, message=b"\xff\xfe internal")


async def ansi_close_reason(ws: web.WebSocketResponse, request: web.Request) -> None:
    """A 1011 whose reason carries ANSI escapes and a newline (valid UTF-8, still not for a terminal)."""
    await _ready(ws)
    await ws.close(code=1011, message=b"\x1b[2J\x1b[31mInternal error encountered.\n# owned")


async def echoes_key(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Quotes the client's credential back: as a message key, then in the reason of a 1011 (a proxy or a
    debugging build echoing the request)."""
    key = request.headers.get("x-goog-api-key", "")
    await _ready(ws)
    await send(ws, {"sessionResumptionUpdate": {}, key: 1, f"x{key}": 2})
    await ws.close(code=1011, message=f"Internal error encountered. key={key} ({key})".encode()[:123])


def _deep(levels: int) -> str:
    return '{"serverContent":' + "[" * levels + "]" * levels + "}"


_MARKUP_KEY: Final = "\x1b[31m\n# heading <img src=x onerror=alert(1)> `code` **bold**\x1b[0m"

MODES: Final[dict[str, Script]] = {
    "endless_audio": endless_audio,
    # Text and transcripts without end (1 MB transcript frames for 30 s held 14 GB before the bound).
    "endless_transcript": _endless({"outputTranscription": {"text": _HALF_MB}}),
    "endless_text": _endless({"modelTurn": {"parts": [{"text": _HALF_MB}]}}),
    "long_audio": long_audio_then_complete,
    "message_flood": message_flood,
    "never_closes": never_closes,
    "surrogate_key": _then_turn('{"sessionResumptionUpdate":{},"\\ud800":1}'),
    "huge_key": _then_turn(json.dumps({"sessionResumptionUpdate": {}, "k" * 10_000: 1})),
    "markup_key": _then_turn(json.dumps({"sessionResumptionUpdate": {}, _MARKUP_KEY: 1})),
    "many_keys": _then_turn(
        json.dumps({"sessionResumptionUpdate": {}, **{f"k{i}": i for i in range(10_000)}})
    ),
    "huge_token_count": _only('{"usageMetadata":{"promptTokenCount":' + "9" * 400 + "}}"),
    "infinite_number": _only('{"usageMetadata":{"promptTokenCount":1e400}}'),
    "huge_sample_rate": _only(
        json.dumps(
            {
                "serverContent": {
                    "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=" + "9" * 5000}}]}
                }
            }
        )
    ),
    "huge_integer": _only('{"usageMetadata":{"promptTokenCount":' + "7" * 5000 + "}}"),
    "deep_nesting": _only(_deep(10_000)),  # decoded, then refused by the walk at limits.json_depth
    # A toolCall of 300k calls in 0.9 MB: refused before decoding (1.5 s of CPU a million before the bound).
    "many_calls": _only('{"toolCall":{"functionCalls":[' + ",".join(["{}"] * 300_000) + "]}}"),
    # 8 MiB: twice the default frame limit (and eight times the suite's).
    "huge_frame": _only(b'{"sessionResumptionUpdate":{"newHandle":"' + b"h" * (8 * 1024 * 1024) + b'"}}'),
    "huge_go_away": _only('{"goAway":{"timeLeft":"' + "9" * 5000 + 's"}}'),
    "silent_after_upgrade": silent_after_upgrade,
    "bad_frame_then_deaf": bad_frame_then_deaf,
    "empty_close": empty_close,
    # UTF-16 and a UTF-8 BOM: json.loads(bytes) would guess the encoding; a frame is UTF-8 JSON.
    "utf16_frame": _only(json.dumps({"serverContent": {"turnComplete": True}}).encode("utf-16")),
    "bom_frame": _only(b"\xef\xbb\xbf" + json.dumps({"serverContent": {"turnComplete": True}}).encode()),
    "bad_close_reason": bad_close_reason,
    "ansi_close_reason": ansi_close_reason,
    "echoes_key": echoes_key,
}


@asynccontextmanager
async def slow_loris(*, interval: float = 0.2) -> AsyncIterator[str]:
    """A TCP server that answers the upgrade one byte every `interval` seconds and never finishes it."""
    response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.CancelledError):
            await reader.readuntil(b"\r\n\r\n")
            for byte in response:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(interval)
            await asyncio.sleep(3600)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}{PATH}"
    finally:
        server.close()
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)
