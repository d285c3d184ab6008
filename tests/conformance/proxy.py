"""A recording wss proxy between a real client stack and the emulator: every frame both ways, every close.

The client sees an ordinary `wss://127.0.0.1:PORT` service (its own throw-away CA, trusted through
`SSL_CERT_FILE` as a user would); the proxy opens the same path and credential headers on the emulator (over
wss too, trusting the emulator's CA) and relays frames unchanged, so nothing of ours is replaced or patched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import aiohttp
from aiohttp import web

from monitor.emulator.tls import self_signed_context

# What a Live client authenticates with; forwarded as sent (the emulator reads them, we never log them).
_FORWARDED = ("x-goog-api-key", "authorization", "x-goog-api-client", "user-agent")
_RELAY_TIMEOUT = 60.0  # no test holds a session this long; a hung relay ends with the test


class Changes:
    """Wakes waiters whenever something was recorded, so tests wait on what they expect, not on a clock."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._event.clear()
            await self._event.wait()


class Direction(StrEnum):
    CLIENT = "client"  # client -> server
    SERVER = "server"  # server -> client


@dataclass(frozen=True, slots=True)
class Frame:
    direction: Direction
    binary: bool
    data: bytes


@dataclass
class Connection:
    """One WebSocket through the proxy: the path asked for, the frames both ways in order, how it ended."""

    path: str
    frames: list[Frame] = field(default_factory=list)
    server_close: tuple[int, str] | None = None  # a close frame the emulator sent
    client_close: tuple[int, str] | None = None  # a close frame the client sent

    def sent(self) -> list[Frame]:
        return [f for f in self.frames if f.direction is Direction.CLIENT]

    def received(self) -> list[Frame]:
        return [f for f in self.frames if f.direction is Direction.SERVER]


class RecordingProxy:
    def __init__(self, upstream: str, upstream_ssl: ssl.SSLContext) -> None:
        self._upstream = upstream.rstrip("/")
        self._upstream_ssl = upstream_ssl
        self.connections: list[Connection] = []
        self.changes = Changes()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        connection = Connection(path=request.path_qs)
        async with aiohttp.ClientSession() as http:
            try:
                upstream = await http.ws_connect(
                    self._upstream + request.path_qs,
                    headers=headers,
                    ssl=self._upstream_ssl,
                    autoping=True,
                    max_msg_size=0,
                )
            except aiohttp.WSServerHandshakeError as refused:
                # The emulator refused the upgrade (a scenario's HTTP fault): the client sees the same status.
                return web.Response(status=refused.status, text=refused.message)
            self.connections.append(connection)
            self.changes.notify()
            client = web.WebSocketResponse(autoping=True, max_msg_size=0)
            await client.prepare(request)
            async with asyncio.timeout(_RELAY_TIMEOUT):
                await _relay(client, upstream, connection, self.changes)
        return client


async def _relay(
    client: web.WebSocketResponse,
    upstream: aiohttp.ClientWebSocketResponse,
    connection: Connection,
    changes: Changes,
) -> None:
    async def pump(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        direction: Direction,
    ) -> None:
        while True:
            message = await source.receive()
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                binary = message.type is aiohttp.WSMsgType.BINARY
                data = message.data if binary else message.data.encode()
                connection.frames.append(Frame(direction, binary, data))
                changes.notify()
                with suppress(ConnectionError, RuntimeError):
                    await (sink.send_bytes(data) if binary else sink.send_str(message.data))
                continue
            # A close frame (data = code, extra = reason), or the socket simply went away (no close frame).
            code = int(message.data) if message.type is aiohttp.WSMsgType.CLOSE else None
            reason = str(message.extra or "") if code is not None else ""
            if code is not None:
                if direction is Direction.SERVER:
                    connection.server_close = (code, reason)
                else:
                    connection.client_close = (code, reason)
                changes.notify()
            # 1005/1006 cannot be sent in a close frame: the other side then gets a plain 1000.
            forwardable = code is not None and code not in (1005, 1006)
            with suppress(ConnectionError, RuntimeError):
                await sink.close(code=code if forwardable else 1000, message=reason.encode())
            return

    tasks = [
        asyncio.create_task(pump(client, upstream, Direction.CLIENT)),
        asyncio.create_task(pump(upstream, client, Direction.SERVER)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.wait(tasks, timeout=2.0)  # let the other side see the close
    finally:
        for task in tasks:
            task.cancel()


@dataclass(frozen=True)
class RunningProxy:
    port: int
    ca_file: str
    recorder: RecordingProxy

    @property
    def base_url(self) -> str:
        """What a client stack's `http_options.base_url` is set to (it derives wss:// from https://)."""
        return f"https://127.0.0.1:{self.port}/"

    @property
    def ws_base(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    @property
    def connections(self) -> list[Connection]:
        return self.recorder.connections


@asynccontextmanager
async def recording_proxy(upstream: str, upstream_ca: str, tls_dir: Path) -> AsyncIterator[RunningProxy]:
    """Serve the proxy on a free loopback port with its own CA (`tls_dir/ca.pem`) for as long as the block."""
    recorder = RecordingProxy(upstream, ssl.create_default_context(cafile=upstream_ca))
    app = web.Application()
    app.router.add_get("/{path:.*}", recorder.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed_context(tls_dir))
    try:
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        port = int(server.sockets[0].getsockname()[1])
        yield RunningProxy(port=port, ca_file=str(tls_dir / "ca.pem"), recorder=recorder)
    finally:
        await runner.cleanup()
