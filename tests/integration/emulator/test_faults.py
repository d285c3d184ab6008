"""Every fault kind at every place it can strike, seen from a raw WebSocket client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import Client, connect, setup, text_turn

TOOL_TURN = text_turn("Call the get_probe_status function now.")


async def _drive(client: Client, *, tool: bool = False) -> None:
    """setup, one turn (answering a toolCall), until the turn completes or the socket ends."""
    await client.send(setup())
    if await client.receive() is None:
        return
    await client.send(TOOL_TURN if tool else text_turn())
    while (message := await client.receive()) is not None:
        if "toolCall" in message:
            call_id = message["toolCall"]["functionCalls"][0]["id"]
            await client.send({"toolResponse": {"functionResponses": [{"id": call_id, "response": {}}]}})
        if message.get("serverContent", {}).get("turnComplete"):
            return


LOCATIONS = [
    pytest.param("before_setup_complete", False, [], id="before_setup_complete"),
    pytest.param("after_setup_complete", False, ["setupComplete"], id="after_setup_complete"),
    pytest.param(
        "after_resumption_update",
        False,
        ["setupComplete", "sessionResumptionUpdate"],
        id="after_resumption_update",
    ),
    pytest.param(
        "after_tool_response", True, ["setupComplete", "sessionResumptionUpdate", "toolCall"], id="after_tool"
    ),
]


@pytest.mark.parametrize(("at", "tool", "kinds"), LOCATIONS)
async def test_close_at_each_location(
    emulator_with: EmulatorFactory, at: str, tool: bool, kinds: list[str]
) -> None:
    """A close fault ends the session right there, with the catalogue's reason text."""
    faults = [{"kind": "close", "code": 1011, "reason": "unavailable", "at": at}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await _drive(client, tool=tool)
    seen = client.seen
    assert (seen.close_code, seen.close_reason) == (1011, "The service is currently unavailable.")
    assert seen.kinds() == kinds


@pytest.mark.parametrize("after_chunks", [0, 1, 3, 500])
async def test_close_mid_stream_after_k_chunks(emulator_with: EmulatorFactory, after_chunks: int) -> None:
    """k chunks arrive, then the close; a k beyond the answer strikes after the last chunk."""
    faults = [
        {
            "kind": "close",
            "code": 1011,
            "reason": "internal",
            "at": "mid_stream",
            "after_chunks": after_chunks,
        }
    ]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await _drive(client)
    chunks = client.seen.kinds().count("serverContent.modelTurn")
    assert client.seen.close_code == 1011
    assert "serverContent.turnComplete" not in client.seen.kinds()
    if after_chunks < 500:
        assert chunks == after_chunks
    else:
        assert chunks > 5


async def test_close_with_any_code_and_literal_reason(emulator_with: EmulatorFactory) -> None:
    """A non-catalogue reason is sent verbatim, cut to 123 bytes without splitting a character."""
    reason = "Überlastung " * 20
    faults = [{"kind": "close", "code": 4003, "reason": reason, "at": "after_setup_complete"}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await _drive(client)
    assert client.seen.close_code == 4003
    assert reason.startswith(client.seen.close_reason)
    assert 121 <= len(client.seen.close_reason.encode()) <= 123


async def test_handle_before_strike_gives_a_resumable_handle(emulator_with: EmulatorFactory) -> None:
    """The handle comes at the last resumable moment (after setupComplete), never mid-generation."""
    faults = [
        {"kind": "close", "code": 1011, "reason": "internal", "at": "mid_stream", "handle_before": True},
    ]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await _drive(client)
    assert client.seen.close_code == 1011
    kinds = client.seen.kinds()
    assert kinds[:3] == ["setupComplete", "sessionResumptionUpdate", "sessionResumptionUpdate"]
    assert client.seen.messages[1]["sessionResumptionUpdate"]["resumable"] is True
    assert client.seen.messages[1]["sessionResumptionUpdate"]["newHandle"]
    generating = [
        m["sessionResumptionUpdate"] for m in client.seen.messages[2:] if "sessionResumptionUpdate" in m
    ]
    assert generating == [{}], "not resumable while the model generates"


@pytest.mark.parametrize(
    ("at", "kinds"),
    [
        ("before_setup_complete", []),
        ("after_setup_complete", ["setupComplete"]),
        ("after_resumption_update", ["setupComplete", "sessionResumptionUpdate"]),
    ],
)
async def test_hang_sends_nothing_more_and_keeps_the_socket(
    emulator_with: EmulatorFactory, at: str, kinds: list[str]
) -> None:
    faults = [{"kind": "hang", "at": at}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                await _drive(client)
        assert not client.ws.closed
    assert client.seen.kinds() == kinds


async def test_hang_mid_stream_and_after_tool_response(emulator_with: EmulatorFactory) -> None:
    faults = [{"kind": "hang", "at": "mid_stream", "after_chunks": 2}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                await _drive(client)
    assert client.seen.kinds().count("serverContent.modelTurn") == 2
    faults = [{"kind": "hang", "at": "after_tool_response"}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                await _drive(client, tool=True)
    assert client.seen.kinds() == ["setupComplete", "sessionResumptionUpdate", "toolCall"]


async def test_hang_at_upgrade_never_answers(emulator_with: EmulatorFactory) -> None:
    async with (
        emulator_with(faults=[{"kind": "hang", "at": "upgrade"}]) as emulator,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.5):
                await http.ws_connect(emulator.url, headers={"x-goog-api-key": "k"})


@pytest.mark.parametrize(
    ("at", "tool"),
    [
        ("before_setup_complete", False),
        ("after_setup_complete", False),
        ("after_resumption_update", False),
        ("mid_stream", False),
        ("after_tool_response", True),
    ],
)
async def test_tcp_drop_gives_1006(emulator_with: EmulatorFactory, at: str, tool: bool) -> None:
    """An abrupt TCP drop: no close frame, so the client sees 1006 (abnormal closure)."""
    faults = [{"kind": "tcp_drop", "at": at}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await _drive(client, tool=tool)
    assert client.seen.close_code == 1006
    assert client.seen.close_reason == ""


async def test_tcp_drop_at_upgrade(emulator_with: EmulatorFactory) -> None:
    async with (
        emulator_with(faults=[{"kind": "tcp_drop", "at": "upgrade"}]) as emulator,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.ws_connect(emulator.url, headers={"x-goog-api-key": "k"})


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 503])
async def test_http_status_at_upgrade(emulator_with: EmulatorFactory, status: int) -> None:
    """The upgrade is answered with the status and Google's JSON error body (429: RESOURCE_EXHAUSTED)."""
    async with (
        emulator_with(faults=[{"kind": "http_status", "status": status}]) as emulator,
        aiohttp.ClientSession() as http,
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(emulator.url, headers={"x-goog-api-key": "k"})
        async with http.get(emulator.url) as plain:
            body = await plain.json()
    assert caught.value.status == status
    assert plain.status == status
    assert body["error"]["code"] == status
    if status == 429:
        assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert body["error"]["message"].startswith("You exceeded your current quota")


async def test_malformed_frame_then_the_conversation_goes_on(emulator_with: EmulatorFactory) -> None:
    faults = [{"kind": "malformed_frame", "at": "after_resumption_update"}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn())
        await client.receive()
        raw = await client.ws.receive(timeout=5)
        assert raw.type is aiohttp.WSMsgType.BINARY
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw.data)
        assert await client.until("turnComplete") is not None


async def test_empty_turn(emulator_with: EmulatorFactory) -> None:
    """turnComplete (with usage) and nothing else: no audio, no transcript, no generationComplete."""
    async with emulator_with(faults=[{"kind": "empty_turn"}]) as emulator, connect(emulator.url) as client:
        await _drive(client)
        await client.receive()
    assert client.seen.kinds() == [
        "setupComplete",
        "sessionResumptionUpdate",
        "serverContent.turnComplete",
        "usageMetadata",
        "sessionResumptionUpdate",
    ]
    usage: dict[str, Any] = client.seen.messages[2]["usageMetadata"]
    assert usage["responseTokenCount"] == 0


async def test_silent_audio(emulator_with: EmulatorFactory) -> None:
    async with emulator_with(faults=[{"kind": "silent_audio"}]) as emulator, connect(emulator.url) as client:
        await _drive(client)
    audio = np.frombuffer(client.seen.audio(), dtype="<i2")
    assert len(audio) > 24_000
    assert not audio.any()
    assert client.seen.transcript() == ""


async def test_slow_pong(emulator_with: EmulatorFactory) -> None:
    """Pongs come back after pong_delay_ms; the session itself stays healthy."""
    faults = [{"kind": "slow_pong", "pong_delay_ms": 400}]
    async with (
        emulator_with(faults=faults) as emulator,
        connect(emulator.url, autoping=False) as client,
    ):
        await client.send(setup())
        await client.receive()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.ws.ping(b"probe")
        pong = await client.ws.receive(timeout=5)
        delay = loop.time() - started
        assert pong.type is aiohttp.WSMsgType.PONG
        assert 0.38 <= delay < 1.0
        await client.send(text_turn())
        assert await client.until("turnComplete") is not None


async def test_pongs_are_immediate_without_the_fault(emulator_with: EmulatorFactory) -> None:
    async with emulator_with() as emulator, connect(emulator.url, autoping=False) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.ws.ping(b"probe")
        pong = await client.ws.receive(timeout=5)
        assert pong.type is aiohttp.WSMsgType.PONG
        assert loop.time() - started < 0.2


async def test_fault_delay_is_scaled_latency(emulator_with: EmulatorFactory) -> None:
    """delay_ms [300, 300] at latency scale 1 holds the close ~300 ms after the empty update."""
    faults = [{"kind": "close", "code": 1011, "reason": "internal", "delay_ms": [300, 300]}]
    async with emulator_with(faults=faults, latency_scale=1.0) as emulator, connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn())
        await client.until("sessionResumptionUpdate")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.until_end()
        assert 0.28 <= loop.time() - started < 0.6
    assert client.seen.close_code == 1011
