"""One Live API WebSocket over aiohttp: credentials, the upgrade, sending, and frames marked at the socket.

A reader task owns `ws.receive()`: it reads the monotonic clock the moment a frame is returned, before any
parsing, and queues `(mark, payload)`; the conversation parses later. How the socket ended is kept as one
`Ending` so a close we initiated (our deadline, our keepalive) is never mistaken for a server close.

Keepalive (google/adk-python issue #3067): the service answers pings slowly under load (8-30 s),
so a client ping with a short pong deadline kills healthy sessions with a self-inflicted "1011 keepalive
ping timeout". Probe turns are bounded by our phase budgets, which already detect a dead peer, so no client
ping is sent by default (`heartbeat=None`). If a heartbeat is configured and its pong goes missing, the
ending is recorded as client-initiated with `keepalive=True`, never as a server 1011.

Bounds: aiohttp refuses a frame over `frame_bytes` while reading it (the ending is a protocol
error naming the limit, as is any other WebSocket protocol violation); the queue between the reader and the
conversation holds at most about `frame_bytes` (or 256 frames), after which the reader waits (only a flood
gets that far ahead, so only a flood's marks are delayed); and our close handshake is cut at `close_seconds`:
aiohttp's `ws.close()` reads until the server's close frame with a per-read timeout only, so a server that
keeps sending would hold it for ever. Cancelling it makes aiohttp drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from monitor.clock import Clock
from monitor.live.bounds import safe_text
from monitor.live.errors import (
    ClientClosed,
    ConnectFailed,
    ConnectionLost,
    HandshakeRejected,
    LiveError,
    ProtocolError,
    ServerClosed,
)

__all__ = ["Ending", "LiveSession", "authorize", "redact"]

_ENCODER = msgspec.json.Encoder()

# A close handshake we start should not hold up the probe for long (ProbeLimits.close_seconds).
_CLOSE_WAIT_SECONDS = 2.0
# aiohttp's own default frame limit (ProbeLimits.frame_bytes).
_FRAME_BYTES = 4 * 1024 * 1024
# Frames queued before the reader waits: the conversation parses a queued frame without a suspension, so this
# also bounds how long a flood of tiny frames can hold the event loop (the other probes) between two yields.
_QUEUE_FRAMES = 256
# After a failed send, how long the reader gets to report the close frame that explains it.
_SEND_FAILURE_GRACE_SECONDS = 0.5
_KEY_PARAM = re.compile(r"((?:key|access_token)=)[^&\s'\"]*")


def authorize(url: str, auth: str, key: str) -> tuple[str, dict[str, str]]:
    """The URL and headers carrying `key` per AuthKind value (`header`, `query`, `token`, `bearer`)."""
    if not key:
        return url, {}
    if auth == "header":
        return url, {"x-goog-api-key": key}
    if auth == "query":
        return f"{url}{'&' if '?' in url else '?'}key={quote(key, safe='')}", {}
    if auth == "token":
        token = key if key.startswith("auth_tokens/") else f"auth_tokens/{key}"
        # Ephemeral tokens are accepted only by the Constrained method (as the SDK switches it).
        if url.endswith("GenerativeService.BidiGenerateContent"):
            url += "Constrained"
        return url, {"Authorization": f"Token {token}"}
    if auth == "bearer":
        return url, {"Authorization": f"Bearer {key}"}
    raise ValueError(f"auth: unknown kind {auth!r} (header, query, token or bearer)")


def redact(text: str, secret: str) -> str:
    """`text` without the secret and without any `key=`/`access_token=` query value."""
    if secret:
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return _KEY_PARAM.sub(r"\1***", text)


@dataclass(frozen=True, slots=True)
class Ending:
    """How the socket ended: who ended it, the close code and reason, and when (monotonic)."""

    at: float
    initiator: str  # "server" (close frame received), "client" (we closed or aborted), "" (lost)
    code: int | None
    reason: str
    keepalive: bool = False
    goaway: bool = False
    protocol: str = ""  # the frame broke the WebSocket protocol or a limit: what was wrong

    def error(self) -> LiveError:
        if self.protocol:
            return ProtocolError(self.protocol)
        if self.initiator == "server" and self.code is not None:
            return ServerClosed(self.code, self.reason)
        if self.keepalive:
            return ConnectionLost("keepalive ping timeout (client side)", keepalive=True)
        if self.initiator == "client":
            return ClientClosed(self.code or 1000, self.reason, goaway=self.goaway)
        return ConnectionLost(self.reason or "connection lost without a close frame")


class LiveSession:
    """An open WebSocket to the BidiGenerateContent method; create with `open()`."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        clock: Clock,
        *,
        frame_bytes: int = _FRAME_BYTES,
        close_seconds: float = _CLOSE_WAIT_SECONDS,
    ) -> None:
        self._ws = ws
        self._clock = clock
        self._frame_bytes = frame_bytes
        self._close_seconds = close_seconds
        self._frames: deque[tuple[float, bytes | str] | Ending] = deque()
        self._queued = 0  # bytes of frames in `_frames`
        self._drained = asyncio.Event()  # set whenever the queue is under its bound
        self._drained.set()
        self._arrived = asyncio.Event()
        self._ending: Ending | None = None
        self._ended = asyncio.Event()
        # One timer for the receive deadline, re-armed only when the deadline changes: a timer armed and
        # cancelled per frame (asyncio.timeout around each receive) was the probe's largest asyncio cost.
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at: float | None = None
        self._reader = asyncio.create_task(self._read(), name="live-session-reader")

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        *,
        auth: str,
        key: str,
        clock: Clock,
        heartbeat: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        frame_bytes: int = _FRAME_BYTES,
        close_seconds: float = _CLOSE_WAIT_SECONDS,
    ) -> LiveSession:
        """Upgrade to a WebSocket; ConnectFailed or HandshakeRejected with the key never in the message."""
        request_url, headers = authorize(url, auth, key)
        headers = {**(extra_headers or {}), **headers}
        try:
            ws = await http.ws_connect(
                request_url,
                headers=headers,
                heartbeat=heartbeat,
                autoclose=False,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=close_seconds),
                max_msg_size=frame_bytes,
            )
        except aiohttp.WSServerHandshakeError as exc:
            # str(exc) holds the request URL, which may carry ?key=: keep only the status.
            raise HandshakeRejected(exc.status, redact(exc.message, key)[:200]) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {redact(str(exc), key)[:300]}") from None
        return cls(ws, clock, frame_bytes=frame_bytes, close_seconds=close_seconds)

    @property
    def ending(self) -> Ending | None:
        return self._ending

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one client message as a JSON text frame."""
        if self._ending is not None:
            raise self._ending.error()
        try:
            # msgspec writes the same compact JSON as json.dumps(separators=(",", ":")), several times faster
            # on a 4 kB base64 audio chunk (an audio turn sends dozens).
            await self._ws.send_str(_ENCODER.encode(message).decode())
        except (ConnectionError, aiohttp.ClientError) as exc:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SEND_FAILURE_GRACE_SECONDS):
                    await self._ended.wait()
            if self._ending is not None:
                raise self._ending.error() from None
            raise ConnectionLost(f"send failed: {type(exc).__name__}") from None

    async def receive(self, deadline: float | None = None) -> tuple[float, bytes | str]:
        """The next frame with its receipt mark; raises the ending's error once the socket has ended.

        With a `deadline` (the clock's monotonic time), TimeoutError once it has passed, even if a frame is
        queued: a frame taken after its deadline is late, whenever the reader marked it.
        """
        while True:
            if deadline is not None:
                left = deadline - self._clock.monotonic()
                if left <= 0:
                    raise TimeoutError
            if self._frames:
                break
            if deadline is not None:
                self._arm(deadline, left)
            self._arrived.clear()
            await self._arrived.wait()
        item = self._frames[0]
        if isinstance(item, Ending):
            raise item.error()  # left in place: every later call sees the same ending
        self._frames.popleft()
        self._queued -= len(item[1])
        if self._queued <= self._frame_bytes and len(self._frames) <= _QUEUE_FRAMES:
            self._drained.set()
        return item

    def _arm(self, deadline: float, left: float) -> None:
        """Wake `receive()` at `deadline`; a timer for the same deadline is kept (one a phase, not a frame).

        The timer runs on the loop's clock; if it fires while the session's clock says the deadline has not
        passed (an injected clock), `receive()` sees time left and arms it again."""
        if self._alarm is not None:
            if self._alarm_at == deadline:
                return
            self._alarm.cancel()
        self._alarm_at = deadline
        self._alarm = asyncio.get_running_loop().call_later(left, self._wake)

    def _wake(self) -> None:
        self._alarm = None
        self._alarm_at = None
        self._arrived.set()

    def ready(self) -> bool:
        """Whether a frame (not the ending) has already arrived and waits to be received."""
        return bool(self._frames) and not isinstance(self._frames[0], Ending)

    async def close(self, code: int = 1000, reason: str = "", *, goaway: bool = False) -> None:
        """Close from our side (recorded as client-initiated unless the socket had already ended)."""
        if self._ending is None:
            self._end(Ending(self._clock.monotonic(), "client", code, reason, goaway=goaway))
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        # Bounded: on the timeout aiohttp's close() is cancelled, and it then drops the connection.
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError):
            async with asyncio.timeout(self._close_seconds):
                await self._ws.close(code=code, message=reason.encode()[:123])
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    def _violation(self, error: aiohttp.WebSocketError) -> str:
        if error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            return f"frame larger than limits.frame_bytes {self._frame_bytes}"
        return f"WebSocket protocol violation ({error.code}): {safe_text(str(error), 120)}"

    def _end(self, ending: Ending) -> None:
        if self._ending is None:
            self._ending = ending
            self._ended.set()
            self._frames.append(ending)
            self._arrived.set()

    async def _read(self) -> None:
        ws = self._ws
        while True:
            message = await ws.receive()
            at = self._clock.monotonic()  # the mark: nothing may run between receipt and this line
            kind = message.type
            if kind is aiohttp.WSMsgType.BINARY or kind is aiohttp.WSMsgType.TEXT:
                self._frames.append((at, message.data))
                self._queued += len(message.data)
                self._arrived.set()
                if self._queued > self._frame_bytes or len(self._frames) > _QUEUE_FRAMES:
                    # A flood: wait until the conversation catches up.
                    self._drained.clear()
                    await self._drained.wait()
                continue
            if kind is aiohttp.WSMsgType.CLOSE:
                self._end(Ending(at, "server", int(message.data), str(message.extra or "")))
            elif kind is aiohttp.WSMsgType.ERROR and isinstance(message.data, aiohttp.ServerTimeoutError):
                self._end(Ending(at, "client", 1006, "keepalive ping timeout", keepalive=True))
            elif kind is aiohttp.WSMsgType.ERROR and isinstance(message.data, aiohttp.WebSocketError):
                self._end(Ending(at, "client", message.data.code, "", protocol=self._violation(message.data)))
            elif kind is aiohttp.WSMsgType.CLOSING:
                pass  # our own close() is under way and has recorded the ending
            else:
                self._end(Ending(at, "", 1006, f"no close frame ({kind.name.lower()})"))
            return
