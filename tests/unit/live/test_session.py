"""LiveSession over real sockets: credentials on the wire, frames and endings, secrets kept out of errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from monitor.clock import SYSTEM_CLOCK
from monitor.live.errors import ConnectFailed, HandshakeRejected, ServerClosed
from monitor.live.session import LiveSession, authorize, redact
from tests.unit.live.scripted_server import PATH, send, serve

KEY = "AIzaCANARY-session-0123456789"
GEMINI = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService."


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize(
    ("auth", "url", "expected_url", "headers"),
    [
        pytest.param("header", "ws://h/p", "ws://h/p", {"x-goog-api-key": KEY}, id="header"),
        pytest.param("query", "ws://h/p", f"ws://h/p?key={KEY}", {}, id="query"),
        pytest.param("query", "ws://h/p?alt=1", f"ws://h/p?alt=1&key={KEY}", {}, id="query-appended"),
        pytest.param(
            "token",
            GEMINI + "BidiGenerateContent",
            GEMINI + "BidiGenerateContentConstrained",
            {"Authorization": f"Token auth_tokens/{KEY}"},
            id="token-on-constrained",
        ),
        pytest.param("bearer", "ws://h/p", "ws://h/p", {"Authorization": f"Bearer {KEY}"}, id="bearer"),
    ],
)
def test_authorize(auth: str, url: str, expected_url: str, headers: dict[str, str]) -> None:
    assert authorize(url, auth, KEY) == (expected_url, headers)


def test_authorize_without_a_key_sends_no_credential() -> None:
    assert authorize("ws://h/p", "header", "") == ("ws://h/p", {})


def test_authorize_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="auth: unknown kind 'cookie'"):
        authorize("ws://h/p", "cookie", KEY)


def test_redact_removes_the_key_and_any_key_parameter() -> None:
    text = f"failed for wss://x/p?key={KEY}&alt=1 and ?access_token=auth_tokens/zzz; raw {KEY}"
    cleaned = redact(text, KEY)
    assert KEY not in cleaned
    assert "auth_tokens/zzz" not in cleaned
    assert "key=***&alt=1" in cleaned


def test_redact_removes_a_key_cut_off_at_the_end() -> None:
    """A close reason is at most 123 bytes: an echoed key near its end arrives truncated."""
    assert redact(f"Internal error for {KEY[:12]}", KEY) == "Internal error for ***"
    assert redact(f"ends in {KEY[:7]}", KEY) == f"ends in {KEY[:7]}"  # too short to be told from text


@pytest.mark.parametrize(
    ("auth", "where"),
    [pytest.param("header", "header", id="header"), pytest.param("query", "query", id="query")],
)
async def test_credential_reaches_the_server(http: aiohttp.ClientSession, auth: str, where: str) -> None:
    seen: list[web.Request] = []

    async def remember(request: web.Request) -> None:
        seen.append(request)

    async def quiet(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.close()

    async with serve(quiet, upgrade=remember) as url:
        session = await LiveSession.open(http, url, auth=auth, key=KEY, clock=SYSTEM_CLOCK)
        await session.close()
    request = seen[0]
    if where == "header":
        assert request.headers["x-goog-api-key"] == KEY
        assert "key" not in request.query
    else:
        assert request.query["key"] == KEY
        assert "x-goog-api-key" not in request.headers


async def test_binary_and_text_frames_then_the_server_close(http: aiohttp.ClientSession) -> None:
    """Frames come back in order with increasing marks; the close frame's code and reason end the session."""

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        await send(ws, {"setupComplete": {}}, binary=True)
        await send(ws, {"sessionResumptionUpdate": {}}, binary=False)
        await ws.close(code=1011, message=b"Internal error encountered.")

    async with serve(script) as url:
        session = await LiveSession.open(http, url, auth="header", key=KEY, clock=SYSTEM_CLOCK)
        first_at, first = await session.receive()
        second_at, second = await session.receive()
        with pytest.raises(ServerClosed) as closed:
            await session.receive()
        with pytest.raises(ServerClosed):
            await session.receive()  # the ending stays
        await session.close()
    assert isinstance(first, bytes)
    assert isinstance(second, str)
    assert first_at <= second_at
    assert (closed.value.code, closed.value.reason) == (1011, "Internal error encountered.")
    ending = session.ending
    assert ending is not None
    assert ending.initiator == "server"
    assert ending.at >= second_at


async def test_frames_that_arrived_together_are_marked_together_before_any_is_parsed(
    http: aiohttp.ClientSession,
) -> None:
    """The mark is taken at the socket: 40 frames that reached us in one read are all marked the moment the
    first is taken, so the 10 ms of work done on each (a slow parse) delays none of their marks."""
    arrived = asyncio.Event()

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        for index in range(40):
            await send(ws, {"sessionResumptionUpdate": {"index": index}})
        arrived.set()
        async for _ in ws:
            pass

    async with serve(script) as url:
        session = await LiveSession.open(http, url, auth="header", key=KEY, clock=SYSTEM_CLOCK)
        await arrived.wait()
        await asyncio.sleep(0.2)  # every frame is in aiohttp's queue by now
        assert session.ready()
        marks = []
        for _ in range(40):
            at, _data = await session.receive(SYSTEM_CLOCK.monotonic() + 5)
            marks.append(at)
            time.sleep(0.01)  # noqa: ASYNC251 -- blocking on purpose: CPU work on the frame, after its mark
        await session.close()
    assert marks == sorted(marks)
    assert marks[-1] - marks[0] < 0.01  # not 40 x 10 ms apart


async def test_listening_between_paced_sends_marks_frames_and_keeps_the_close_handshake(
    http: aiohttp.ClientSession,
) -> None:
    """`listen` marks a frame when it comes (not when the wait is over), and the reads it leaves waiting do
    not cost the close handshake: our close waits for the server's close frame, sent here 0.3 s late."""
    sent_at: list[float] = []

    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        await asyncio.sleep(0.15)
        sent_at.append(SYSTEM_CLOCK.monotonic())
        await send(ws, {"sessionResumptionUpdate": {}})
        async for message in ws:
            if message.type is aiohttp.WSMsgType.CLOSE:
                break
        await asyncio.sleep(0.3)
        await ws.close()

    async with serve(script, autoclose=False) as url:
        session = await LiveSession.open(http, url, auth="header", key=KEY, clock=SYSTEM_CLOCK)
        start = SYSTEM_CLOCK.monotonic()
        for step in range(1, 6):  # five 0.1 s waits, as between paced audio chunks
            await session.listen(start + 0.1 * step)
        at, _data = await session.receive()
        closing = SYSTEM_CLOCK.monotonic()
        await session.close()
        closed = SYSTEM_CLOCK.monotonic()
    assert 0 <= at - sent_at[0] < 0.05  # marked on arrival, not at the end of its 0.1 s wait
    assert closed - closing >= 0.25  # we waited for the server's close frame


async def test_our_close_is_recorded_as_client_initiated(http: aiohttp.ClientSession) -> None:
    async def script(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for _ in ws:
            pass

    async with serve(script) as url:
        session = await LiveSession.open(http, url, auth="header", key=KEY, clock=SYSTEM_CLOCK)
        await session.close(1000, "done")
    assert session.ending is not None
    assert (session.ending.initiator, session.ending.code) == ("client", 1000)


async def test_handshake_rejection_keeps_the_status_and_drops_the_url(http: aiohttp.ClientSession) -> None:
    async def reject(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, text="RESOURCE_EXHAUSTED")

    async def never(ws: web.WebSocketResponse, request: web.Request) -> None:
        raise AssertionError("not reached")

    async with serve(never, upgrade=reject) as url:
        with pytest.raises(HandshakeRejected) as rejected:
            await LiveSession.open(http, url, auth="query", key=KEY, clock=SYSTEM_CLOCK)
    assert rejected.value.status == 429
    assert KEY not in str(rejected.value)
    assert PATH not in str(rejected.value)
    assert rejected.value.__cause__ is None
    assert rejected.value.__suppress_context__


async def test_connect_failure_never_shows_the_key(http: aiohttp.ClientSession) -> None:
    with pytest.raises(ConnectFailed) as failed:
        await LiveSession.open(
            http, "ws://does-not-exist.invalid/ws/x", auth="query", key=KEY, clock=SYSTEM_CLOCK
        )
    assert KEY not in str(failed.value)
    assert failed.value.__suppress_context__
