"""The server side of one WebSocket: frames out (binary pretty JSON by default), closes, drops, pongs.

Every way the emulator ends a connection goes through here, once: a close with a truncated reason, an abrupt
TCP drop (the client then sees 1006), or the client's own close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from monitor.emulator.reasons import truncate_reason

__all__ = ["ServerWire"]


class ServerWire:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, binary: bool = True) -> None:
        self._ws = ws
        self._transport = request.transport
        self._binary = binary
        self._lock = asyncio.Lock()
        self.ended = asyncio.Event()  # set once the connection is over, whoever ended it
        self.hanging = False  # a hang fault struck: nothing more is sent (pongs aside)
        self.sent: list[str] = []  # top-level keys of every message sent, for logs and tests

    @property
    def open(self) -> bool:
        return not self.ended.is_set() and not self._ws.closed and not self.hanging

    async def send(self, message: dict[str, Any]) -> None:
        """One server message as one frame, indented as the service's frames are."""
        if not self.open:
            return
        text = json.dumps(message, indent=2) + "\n"
        async with self._lock:
            self.sent.extend(message)
            try:
                if self._binary:
                    await self._ws.send_bytes(text.encode("utf-8"))
                else:
                    await self._ws.send_str(text)
            except ConnectionError:
                self.ended.set()  # the client went away mid-send: the connection is over, nothing to answer

    async def send_raw(self, payload: bytes) -> None:
        """Bytes as they are, e.g. a malformed frame."""
        if self.open:
            async with self._lock:
                try:
                    await self._ws.send_bytes(payload)
                except ConnectionError:
                    self.ended.set()

    async def close(self, code: int, reason: str) -> None:
        if self.ended.is_set() or self._ws.closed:
            return
        self.ended.set()
        await self._ws.close(code=code, message=truncate_reason(reason).encode("utf-8"))

    def drop(self) -> None:
        """Abort the TCP connection: no close frame, the client sees 1006."""
        self.ended.set()
        if self._transport is not None:
            self._transport.abort()

    async def pong(self, payload: bytes, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if not self.ended.is_set() and not self._ws.closed:
            await self._ws.pong(payload)

    async def hang(self) -> None:
        """Send nothing more, ever (input is still read, pings answered); return when the connection ends."""
        self.hanging = True
        await self.ended.wait()
