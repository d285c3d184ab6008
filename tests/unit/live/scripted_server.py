"""Small real WebSocket servers (aiohttp, 127.0.0.1, port 0) that play one scripted Live API exchange.

A script is an async function `(ws, request)` that reads the client's JSON messages and answers with server
frames, binary by default like the real service. Scripts compose from the helpers below.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from aiohttp import WSMsgType, web

__all__ = [
    "PATH",
    "Script",
    "answer_turn",
    "read_turn",
    "receive_json",
    "send",
    "serve",
    "setup_ok",
    "speech",
]

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
Script = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]
Upgrade = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def speech(seconds: float = 0.2, *, amplitude: int = 3000) -> str:
    """Base64 24 kHz s16le mono: a 440 Hz tone, loud enough to pass the silence check."""
    count = int(24_000 * seconds)
    samples = [int(amplitude * math.sin(2 * math.pi * 440 * i / 24_000)) for i in range(count)]
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode()


async def send(ws: web.WebSocketResponse, message: dict[str, Any], *, binary: bool = True) -> None:
    text = json.dumps(message, indent=2)
    if binary:
        await ws.send_bytes(text.encode())
    else:
        await ws.send_str(text)


async def receive_json(ws: web.WebSocketResponse) -> dict[str, Any] | None:
    """The next client message, or None once the client has closed."""
    message = await ws.receive()
    if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        decoded: dict[str, Any] = json.loads(message.data)
        return decoded
    return None


async def setup_ok(ws: web.WebSocketResponse, *, handle: str = "h-1") -> dict[str, Any]:
    """Read the setup, answer setupComplete and an empty resumption update (incident 000's pattern)."""
    setup = await receive_json(ws)
    assert setup is not None, "client closed before setup"
    assert "setup" in setup, setup
    await send(ws, {"setupComplete": {}})
    await send(ws, {"sessionResumptionUpdate": {}})
    if handle:
        await send(ws, {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
    return setup


async def read_turn(ws: web.WebSocketResponse) -> list[dict[str, Any]]:
    """Client messages up to the one completing the turn (clientContent, activityEnd, unbracketed text)."""
    messages: list[dict[str, Any]] = []
    bracketed = False
    while True:
        message = await receive_json(ws)
        if message is None:
            return messages
        messages.append(message)
        realtime = message.get("realtimeInput", {})
        bracketed = bracketed or "activityStart" in realtime
        if "clientContent" in message or "activityEnd" in realtime or ("text" in realtime and not bracketed):
            return messages


async def answer_turn(ws: web.WebSocketResponse, *, chunks: int = 3, transcript: str = "Paris.") -> None:
    for _ in range(chunks):
        part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": speech()}}
        await send(ws, {"serverContent": {"modelTurn": {"parts": [part]}}})
    await send(ws, {"serverContent": {"outputTranscription": {"text": transcript}}})
    await send(ws, {"serverContent": {"generationComplete": True}})
    await send(
        ws,
        {
            "serverContent": {"turnComplete": True},
            "usageMetadata": {"promptTokenCount": 509, "responseTokenCount": 11},
        },
    )


async def drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) everything, pings included, until the client closes."""
    async for _ in ws:
        pass


@asynccontextmanager
async def serve(
    script: Script, *, upgrade: Upgrade | None = None, autoping: bool = True, autoclose: bool = True
) -> AsyncIterator[str]:
    """Run the script for every connection; yields the ws:// URL of the Gemini v1beta path."""
    connections: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        connections.append(request)
        if upgrade is not None:
            early = await upgrade(request)
            if early is not None:
                return early
        ws = web.WebSocketResponse(autoping=autoping, autoclose=autoclose, max_msg_size=0)
        await ws.prepare(request)
        with suppress(ConnectionError, asyncio.CancelledError):
            await script(ws, request)
        if not ws.closed:
            await ws.close()
        return ws

    app = web.Application()
    app.router.add_get(PATH, handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}{PATH}"
    finally:
        await runner.cleanup()
