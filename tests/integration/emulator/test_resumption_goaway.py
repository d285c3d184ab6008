"""Resumption handles (accepted, unknown, expired, old socket still open) and the goAway lifecycle."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from monitor.emulator import RunningEmulator
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import connect, setup, text_turn


class ManualClock:
    """A clock the test moves by hand (the Clock seam)."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.wall = datetime(2026, 5, 27, 17, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall


async def _handle_after_one_turn(url: str, model: str = "gemini-3.8-live") -> str:
    async with connect(url) as client:
        await client.send(setup(model))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
        update = await client.until("sessionResumptionUpdate")
    assert update is not None
    return str(update["sessionResumptionUpdate"]["newHandle"])


async def test_known_handle_resumes(emulator: RunningEmulator) -> None:
    handle = await _handle_after_one_turn(emulator.url)
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", sessionResumption={"handle": handle}))
        assert await client.receive() == {"setupComplete": {}}
        await client.send({"realtimeInput": {"text": "still there?"}})
        assert await client.until("turnComplete") is not None


async def test_unknown_handle_is_1008_not_found(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup(sessionResumption={"handle": "no-such-handle"}))
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1008, "Requested entity was not found.")


async def test_handle_expires_two_hours_after_the_session_ended(emulator_with: EmulatorFactory) -> None:
    clock = ManualClock()
    async with emulator_with(clock=clock) as emulator:
        handle = await _handle_after_one_turn(emulator.url)
        await asyncio.sleep(0.05)  # the server notices the client's close
        clock.seconds += 2 * 3600 - 1
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.8-live", sessionResumption={"handle": handle}))
            assert await client.receive() == {"setupComplete": {}}
        await asyncio.sleep(0.05)
        clock.seconds += 2 * 3600 + 1
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.8-live", sessionResumption={"handle": handle}))
            seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1008, "Requested entity was not found.")


async def test_resume_while_the_old_socket_is_open_is_1011(emulator: RunningEmulator) -> None:
    """aicc2025/sip-to-ai#14: Gemini rejects a resume with 1011 while the earlier socket is still open."""
    async with connect(emulator.url) as first:
        await first.send(setup("gemini-3.8-live"))
        await first.receive()
        await first.send(text_turn())
        await first.until("turnComplete")
        update = await first.until("sessionResumptionUpdate")
        assert update is not None
        async with connect(emulator.url) as second:
            handle = update["sessionResumptionUpdate"]["newHandle"]
            await second.send(setup("gemini-3.8-live", sessionResumption={"handle": handle}))
            seen = await second.until_end()
    assert (seen.close_code, seen.close_reason) == (1011, "Internal error encountered.")


async def test_no_resumption_updates_without_session_resumption(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        body = setup()
        del body["setup"]["sessionResumption"]
        await client.send(body)
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    assert "sessionResumptionUpdate" not in client.seen.kinds()


async def test_goaway_before_the_connection_limit_then_1008_abort(emulator_with: EmulatorFactory) -> None:
    """goAway {timeLeft} arrives timeLeft before the limit; a client that stays is aborted with 1008."""
    async with (
        emulator_with(connection_limit_seconds=0.6, goaway_time_left_seconds=0.3) as emulator,
        connect(emulator.url) as client,
    ):
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.send(setup())
        await client.receive()
        goaway = await client.until("goAway")
        goaway_at = loop.time() - started
        seen = await client.until_end()
        ended_at = loop.time() - started
    assert goaway == {"goAway": {"timeLeft": "0.3s"}}
    assert 0.25 <= goaway_at < 0.5
    assert 0.55 <= ended_at < 0.9
    assert seen.close_code == 1008
    assert seen.close_reason == (
        "Connection aborted because the client failed to close the connection after receiving a GoAway "
        "signal once the session durat"
    )


async def test_goaway_mid_turn_then_the_turn_completes(emulator_with: EmulatorFactory) -> None:
    faults = [{"kind": "goaway", "at": "mid_stream", "after_chunks": 2, "time_left_s": 0.5}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
        seen = await client.until_end()
    kinds = seen.kinds()
    assert kinds.index("goAway") == kinds.index("serverContent.modelTurn") + 3  # chunk, transcript, chunk
    assert "serverContent.turnComplete" in kinds
    assert seen.close_code == 1008
