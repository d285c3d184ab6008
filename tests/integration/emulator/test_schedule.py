"""Fault schedules over real connections: probability (seeded, checked statistically), time windows relative
to start, at "onset" and at absolute UTC times, per model, and fresh vs resumed sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.test_resumption_goaway import ManualClock
from tests.integration.emulator.wsclient import connect, setup, text_turn

LATEST = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
CLOSE_1011 = {"kind": "close", "code": 1011, "reason": "internal", "at": "after_setup_complete"}


async def _fails(url: str, model: str = LATEST) -> bool:
    """One connection: True when it was closed with 1011 right after setupComplete."""
    async with connect(url) as client:
        await client.send(setup(model))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    return client.seen.close_code == 1011


async def test_probability_is_honoured_statistically(emulator_with: EmulatorFactory) -> None:
    """p=0.3 over 200 connections: the failure count lies within 4 standard deviations of 60."""
    async with emulator_with(faults=[{**CLOSE_1011, "probability": 0.3}], seed=2026) as emulator:
        failures = [await _fails(emulator.url) for _ in range(200)]
    assert 60 - 4 * 6.5 <= sum(failures) <= 60 + 4 * 6.5


async def test_same_seed_same_failures(emulator_with: EmulatorFactory) -> None:
    runs = []
    for _ in range(2):
        async with emulator_with(faults=[{**CLOSE_1011, "probability": 0.5}], seed=99) as emulator:
            runs.append([await _fails(emulator.url) for _ in range(20)])
    assert runs[0] == runs[1]
    assert 0 < sum(runs[0]) < 20


async def test_onset_window_switches_the_rate(emulator_with: EmulatorFactory) -> None:
    """Before onset the fault is off (p=0 window), after it on (p=1): a regression at a known moment."""
    clock = ManualClock()
    fault = {**CLOSE_1011, "windows": [{"start": 0, "end": "onset", "probability": 0.0}, {"start": "onset"}]}
    async with emulator_with(faults=[fault], clock=clock, onset_seconds=300) as emulator:
        before = [await _fails(emulator.url) for _ in range(5)]
        clock.seconds += 299.9
        still_before = await _fails(emulator.url)
        clock.seconds += 0.2
        after = [await _fails(emulator.url) for _ in range(5)]
    assert before == [False] * 5
    assert still_before is False
    assert after == [True] * 5


async def test_relative_window_ends(emulator_with: EmulatorFactory) -> None:
    clock = ManualClock()
    fault = {**CLOSE_1011, "windows": [{"start": 10, "end": 20}]}
    async with emulator_with(faults=[fault], clock=clock) as emulator:
        outcomes = []
        for elapsed in (5, 10, 15, 20, 25):
            clock.seconds = 1000.0 + elapsed
            outcomes.append(await _fails(emulator.url))
    assert outcomes == [False, True, True, False, False]


async def test_absolute_utc_window(emulator_with: EmulatorFactory) -> None:
    clock = ManualClock()
    start = clock.wall + timedelta(minutes=10)
    fault = {**CLOSE_1011, "windows": [{"start": start.isoformat()}]}
    async with emulator_with(faults=[fault], clock=clock) as emulator:
        before = await _fails(emulator.url)
        clock.wall = datetime(2026, 5, 27, 17, 10, tzinfo=UTC)
        after = await _fails(emulator.url)
    assert (before, after) == (False, True)


async def test_fault_limited_to_models(emulator_with: EmulatorFactory) -> None:
    async with emulator_with(faults=[{**CLOSE_1011, "models": [LATEST]}]) as emulator:
        assert await _fails(emulator.url, LATEST)
        assert not await _fails(emulator.url, PINNED)


async def test_fresh_only_fault_spares_resumed_sessions(emulator_with: EmulatorFactory) -> None:
    """Incident 001: the fault hits fresh sessions; a session resumed with its handle recovers."""
    fault = {
        "kind": "close",
        "code": 1011,
        "reason": "internal",
        "at": "mid_stream",
        "after_chunks": 2,
        "handle_before": True,
        "sessions": "fresh",
    }
    async with emulator_with(faults=[fault]) as emulator:
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.1-flash-live-preview"))
            await client.receive()
            await client.send({"realtimeInput": {"text": "hi"}})
            seen = await client.until_end()
        assert seen.close_code == 1011
        (handle,) = [
            m["sessionResumptionUpdate"]["newHandle"]
            for m in seen.messages
            if m.get("sessionResumptionUpdate", {}).get("newHandle")
        ]
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.1-flash-live-preview", sessionResumption={"handle": handle}))
            await client.receive()
            await client.send({"realtimeInput": {"text": "hi again"}})
            assert await client.until("turnComplete") is not None


async def test_seed_replay_rates_before_and_after_onset() -> None:
    """seed-replay: -latest fails ~1% before the onset and ~85% after; -preview-09-2025 never."""
    from monitor.emulator import load_scenario, start_emulator  # noqa: PLC0415

    scenario = load_scenario("seed-replay")
    clock = ManualClock()
    async with start_emulator(scenario, latency_scale=0.0, seed=5, clock=clock, onset_seconds=60) as emulator:
        before = sum([await _closed_1011(emulator.url, LATEST) for _ in range(100)])
        clock.seconds += 61
        after = sum([await _closed_1011(emulator.url, LATEST) for _ in range(100)])
        pinned = sum([await _closed_1011(emulator.url, PINNED) for _ in range(30)])
    assert before <= 5
    assert 85 - 4 * 3.6 <= after <= 100
    assert pinned == 0


async def _closed_1011(url: str, model: str) -> bool:
    """Incident 000's pattern: setupComplete, the empty update, then 1011 with no content."""
    async with connect(url) as client:
        await client.send(setup(model))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    if client.seen.close_code != 1011:
        return False
    assert client.seen.kinds() == ["setupComplete", "sessionResumptionUpdate"]
    assert client.seen.close_reason == "Internal error encountered."
    return True
