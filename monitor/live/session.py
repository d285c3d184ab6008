"""One Live API WebSocket over aiohttp: credentials, the upgrade, sending, and frames marked at the socket.

The conversation reads the socket itself (`receive`, and `listen` between paced sends): each frame is marked
on the monotonic clock the moment aiohttp hands it over, before any parsing, and every frame aiohttp already
holds is taken and marked with it, so frames that came in one read are not marked one parse apart. No reader
task stands between the socket and the conversation: one task wake-up a frame instead of two, and one timer a
deadline instead of one a frame. How the socket ended is kept as one `Ending` so a close we initiated (our
deadline, our keepalive) is never mistaken for a server close.

Keepalive (google/adk-python issue #3067): the service answers pings slowly under load (8-30 s),
so a client ping with a short pong deadline kills healthy sessions with a self-inflicted "1011 keepalive
ping timeout". Probe turns are bounded by our phase budgets, which already detect a dead peer, so no client
ping is sent by default (`heartbeat=None`). If a heartbeat is configured and its pong goes missing, the
ending is recorded as client-initiated with `keepalive=True`, never as a server 1011.

Bounds: aiohttp refuses a frame over `frame_bytes` while reading it (the ending is a protocol
error naming the limit, as is any other WebSocket protocol violation), and pauses the socket while its own
queue holds more than 128 KiB; frames taken ahead of the conversation stop at about `frame_bytes` (or 256
frames); after 256 frames read without a wait (a flood) the session yields to the other probes; and our close
handshake is cut at `close_seconds`: aiohttp's `ws.close()` reads until the server's close frame with a
per-read timeout only, so a server that keeps sending would hold it for ever. Cancelling it makes aiohttp
drop the connection.
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

__all__ = ["Ending", "LiveSession", "authorize", "http_client", "redact"]

_ENCODER = msgspec.json.Encoder()

# A close handshake we start should not hold up the probe for long (ProbeLimits.close_seconds).
_CLOSE_WAIT_SECONDS = 2.0
# aiohttp's own default frame limit (ProbeLimits.frame_bytes).
_FRAME_BYTES = 4 * 1024 * 1024
# Frames taken ahead of the conversation, and read without a wait before the session yields: bounds how long a
# flood of tiny frames can hold the event loop (the other probes) between two yields.
_QUEUE_FRAMES = 256
_DATA_TYPES = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
_NO_STATUS_RECEIVED = 1005
_CUT_SECRET_CHARS = 8  # the shortest cut-off start of a secret that `redact` replaces
# After a failed send, how long we read for the close frame that explains it.
_SEND_FAILURE_GRACE_SECONDS = 0.5
_KEY_PARAM = re.compile(r"((?:key|access_token)=)[^&\s'\"]*")


def http_client() -> aiohttp.ClientSession:
    """The HTTP client every probe of a process shares (sessions, token requests); close it when done.

    - No aiohttp timeouts: every await on it already runs under one of our deadlines (the phase budgets,
      `close_seconds`, the token and credential timeouts), which name the phase that ran out; aiohttp's
      default 300 s total and 30 s connect timers only cost a timer per request.
    - No connection limit: the scheduler caps concurrent sessions per endpoint (`max_concurrent_sessions`);
      aiohttp's default cap of 100 connections would make a probe past it wait for a slot inside its
      connect phase, timing our own queue as the service's latency.
    - No cookie jar: each probe is a new client, as an SDK session is; a cookie one session is given must
      not change what the next one sends.
    - No kept-alive connection (`force_close`): a server that answers an upgrade with 503 and keeps the
      socket open would otherwise carry the next session on it, whose connect would then be timed without
      its TCP and TLS setup.
    - No redirect followed (`_refuse_redirects`).
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None),
        middlewares=(_refuse_redirects,),
    )


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def _refuse_redirects(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A redirect is the server's answer, not a detour: aiohttp would follow it with the same headers, so
    the x-goog-api-key header would go to whatever host the server names, and that host's handshake would
    be timed and classified as this endpoint's. It becomes a rejection with its status (handshake_rejected
    3xx for a session)."""
    response = await handler(request)
    if response.status in _REDIRECTS:
        response.release()
        raise aiohttp.ClientResponseError(
            response.request_info,
            (),
            status=response.status,
            message=f"redirect ({response.status}) not followed",
            headers=response.headers,
        )
    return response


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
    """`text` without the secret and without any `key=`/`access_token=` query value.

    Also a secret cut off at the end of `text` (a close reason is at most 123 bytes, a detail 300 characters,
    so a key the server echoes near the end arrives truncated): any tail of 8 or more characters that the
    secret begins with."""
    if secret:
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
        for length in range(min(len(secret), len(text)) - 1, _CUT_SECRET_CHARS - 1, -1):
            if text.endswith(secret[:length]):
                text = text[:-length] + "***"
                break
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
        self._taken = 0  # frames read since the last forced yield
        self._ending: Ending | None = None
        # One timer for the receive deadline, re-armed only when the deadline changes (a timer armed and
        # cancelled per frame was the probe's largest asyncio cost). When it fires during a read it cancels
        # the task doing the read, which `_pull` turns into TimeoutError, as asyncio.timeout does.
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at: float | None = None
        self._reading: asyncio.Task[Any] | None = None  # the task inside ws.receive(), for the alarm
        self._expired = False
        # A read `listen` left waiting when its time was up, and its mark (None until its callback ran). A
        # read it cancelled would make aiohttp skip the close handshake later (a cancelled receive counts as
        # an abnormal closure), so it is kept and the next read takes it over. A read cut by a deadline in
        # `receive` (a phase timeout, the goAway deadline) does make aiohttp close without waiting for the
        # server's close frame: the session ends there anyway.
        self._pending: asyncio.Task[aiohttp.WSMessage] | None = None
        self._pending_at: float | None = None

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
        except aiohttp.ClientResponseError as exc:  # WSServerHandshakeError, or a refused redirect
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
            # The close frame that explains the failure may already be on its way: read for it, briefly.
            await self.listen(self._clock.monotonic() + _SEND_FAILURE_GRACE_SECONDS, until_ending=True)
            if self._ending is not None:
                raise self._ending.error() from None
            raise ConnectionLost(f"send failed: {type(exc).__name__}") from None

    async def receive(self, deadline: float | None = None) -> tuple[float, bytes | str]:
        """The next frame with its receipt mark; raises the ending's error once the socket has ended.

        With a `deadline` (the clock's monotonic time), TimeoutError once it has passed, even if a frame is
        queued: a frame taken after its deadline is late, whenever it was marked.
        """
        if deadline is not None and deadline <= self._clock.monotonic():
            raise TimeoutError
        if not self._frames:
            await self._pull(deadline)
        item = self._frames[0]
        if isinstance(item, Ending):
            raise item.error()  # left in place: every later call sees the same ending
        self._frames.popleft()
        self._queued -= len(item[1])
        return item

    async def listen(self, until: float, *, until_ending: bool = False) -> None:
        """Mark and queue what the server sends until `until` (the clock's monotonic time), as a sleep would
        wait; with `until_ending`, return as soon as the socket has ended. Used between paced sends, so a
        close or an early answer is marked when it arrives, not when the sending is done."""
        while self._ending is None and not self._full():
            left = until - self._clock.monotonic()
            if left <= 0:
                return
            read = self._pending or self._read_later()
            done, _ = await asyncio.wait((read,), timeout=left)
            if not done:
                return  # time is up; the read stays pending for the next receive
            self._take_pending(read)
            await self._drain()
        if until_ending and self._ending is not None:
            return
        left = until - self._clock.monotonic()
        if left > 0:
            await asyncio.sleep(left)  # the session has ended or a flood filled the queue: just wait

    def ready(self) -> bool:
        """Whether a frame (not the ending) has already arrived and waits to be received."""
        if self._frames:
            return not isinstance(self._frames[0], Ending)
        return self._buffered()

    async def close(self, code: int = 1000, reason: str = "", *, goaway: bool = False) -> None:
        """Close from our side (recorded as client-initiated unless the socket had already ended)."""
        if self._ending is None:
            self._end(Ending(self._clock.monotonic(), "client", code, reason, goaway=goaway))
        self._disarm()
        # Bounded: on the timeout aiohttp's close() is cancelled, and it then drops the connection.
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError):
            async with asyncio.timeout(self._close_seconds):
                await self._ws.close(code=code, message=reason.encode()[:123])  # ends a pending read
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
            self._pending = None

    async def _pull(self, deadline: float | None) -> None:
        """Read one message from aiohttp (frame or ending) into the queue, and every frame it already holds.

        Each frame is marked the moment aiohttp hands it over, before any is parsed: frames that came in the
        same read are marked together, not one parse apart. TimeoutError at `deadline`."""
        if self._taken >= _QUEUE_FRAMES:
            # A long run of frames read without waiting (a flood): let the other probes run.
            self._taken = 0
            await asyncio.sleep(0)
        read = self._pending
        if read is None:
            message = await self._wait(deadline)
            self._take(self._clock.monotonic(), message)  # the mark: nothing may run between receipt and this
        else:
            left = None if deadline is None else deadline - self._clock.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            done, _ = await asyncio.wait((read,), timeout=left)
            if not done:
                raise TimeoutError
            self._take_pending(read)
        await self._drain()

    async def _drain(self) -> None:
        """Take every frame aiohttp already holds, each marked as it is taken."""
        while self._ending is None and not self._full() and self._buffered():
            message = await self._ws.receive()  # a frame is buffered: this returns without waiting
            self._take(self._clock.monotonic(), message)

    def _read_later(self) -> asyncio.Task[aiohttp.WSMessage]:
        """A read that may outlive the current wait; its mark is taken by a callback as it completes."""
        read = asyncio.ensure_future(self._ws.receive())
        read.add_done_callback(self._mark_pending)
        self._pending = read
        self._pending_at = None
        return read

    def _mark_pending(self, _read: asyncio.Future[aiohttp.WSMessage]) -> None:
        self._pending_at = self._clock.monotonic()

    def _take_pending(self, read: asyncio.Task[aiohttp.WSMessage]) -> None:
        # The callback runs in the loop step after the read completes; if we got here first, now is that step.
        at = self._pending_at if self._pending_at is not None else self._clock.monotonic()
        self._pending = None
        self._take(at, read.result())

    async def _wait(self, deadline: float | None) -> aiohttp.WSMessage:
        task = asyncio.current_task()
        assert task is not None
        while True:
            if deadline is not None:
                left = deadline - self._clock.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._arm(deadline, left)
            cancelling = task.cancelling()
            self._reading = task
            try:
                return await self._ws.receive()
            except asyncio.CancelledError:
                if not self._expired or task.uncancel() > cancelling:
                    raise  # not our alarm: someone else cancelled the probe
            finally:
                self._reading = None
                self._expired = False
            # Our alarm fired; the loop's clock may differ from an injected clock, which decides.

    def _arm(self, deadline: float, left: float) -> None:
        """Expire the read at `deadline`; a timer for the same deadline is kept (one a phase, not a frame)."""
        if self._alarm is not None:
            if self._alarm_at == deadline:
                return
            self._alarm.cancel()
        self._alarm_at = deadline
        self._alarm = asyncio.get_running_loop().call_later(left, self._expire)

    def _disarm(self) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm = None
        self._alarm_at = None

    def _expire(self) -> None:
        self._alarm = None
        self._alarm_at = None
        if self._reading is not None and not self._expired:
            self._expired = True
            self._reading.cancel()

    def _full(self) -> bool:
        return self._queued > self._frame_bytes or len(self._frames) >= _QUEUE_FRAMES

    def _buffered(self) -> bool:
        """Whether aiohttp holds a data frame that `ws.receive()` would return without waiting.

        aiohttp has no public call for this; its queue's buffer is read, and without it (another aiohttp)
        frames are still read correctly, only marked one at a time (tests/unit/live/test_session.py checks
        the installed aiohttp has it)."""
        buffer = getattr(getattr(self._ws, "_reader", None), "_buffer", None)
        if not buffer:
            return False
        head = buffer[0][0]
        return getattr(head, "type", None) in _DATA_TYPES

    def _violation(self, error: aiohttp.WebSocketError) -> str:
        if error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            return f"frame larger than limits.frame_bytes {self._frame_bytes}"
        return f"WebSocket protocol violation ({error.code}): {safe_text(str(error), 120)}"

    def _end(self, ending: Ending) -> None:
        if self._ending is None:
            self._ending = ending
            self._frames.append(ending)
            self._disarm()

    def _take(self, at: float, message: aiohttp.WSMessage) -> None:
        """Queue a frame with its mark, or end the session as the message says."""
        self._taken += 1
        kind = message.type
        if kind is aiohttp.WSMsgType.BINARY or kind is aiohttp.WSMsgType.TEXT:
            self._frames.append((at, message.data))
            self._queued += len(message.data)
            return
        error = message.data if kind is aiohttp.WSMsgType.ERROR else self._ws.exception()
        if kind is aiohttp.WSMsgType.CLOSE:
            # An empty close frame carries no code (aiohttp reports 0): RFC 6455 7.1.5 calls that 1005.
            code = int(message.data) or _NO_STATUS_RECEIVED
            self._end(Ending(at, "server", code, str(message.extra or "")))
        elif isinstance(error, aiohttp.ServerTimeoutError):
            # aiohttp's heartbeat got no pong: it closed the socket (reported as ERROR during a read,
            # CLOSED after one).
            self._end(Ending(at, "client", 1006, "keepalive ping timeout", keepalive=True))
        elif kind is aiohttp.WSMsgType.ERROR and isinstance(error, aiohttp.WebSocketError):
            self._end(Ending(at, "client", error.code, "", protocol=self._violation(error)))
        else:
            self._end(Ending(at, "", 1006, f"no close frame ({kind.name.lower()})"))
