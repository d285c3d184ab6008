"""Input handled while the model answers, over a real socket: a continuous microphone is answered while
its frames keep coming, telephony audio at 8 kHz, voiceActivity edges with offsets, incremental input
transcripts, interruptions (clientContent, activityStart, speech), NO_INTERRUPTION, and no resumable
handle mid-answer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest

from monitor.emulator import RunningEmulator
from monitor.emulator.transcripts import CANNED_TRANSCRIPT, PROMPT_TRANSCRIPT
from monitor.probe.audio import prompt_pcm
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.test_sdk import _assert_sdk_sees_everything, _sdk_parse
from tests.integration.emulator.wsclient import Client, audio_chunk, connect, setup, text_turn

AAD: dict[str, Any] = {}  # realtimeInputConfig with automatic activity detection (the default)
MANUAL = {"automaticActivityDetection": {"disabled": True}}
# An answer slow enough to be interrupted: 30 ms between chunks, nothing else waits.
SLOW = {
    "latency": {
        "setup_complete": [0, 0],
        "first_response": [0, 0],
        "chunk_gap": [30, 30],
        "tool_call": [0, 0],
    }
}


def _genai_audio(pcm: bytes, rate: int = 16_000) -> dict[str, Any]:
    """What google-genai 3.6 writes for `send_realtime_input(audio=Blob(...))`: snake_case, URL-safe."""
    data = base64.urlsafe_b64encode(pcm).decode().rstrip("=")
    return {"realtime_input": {"audio": {"data": data, "mime_type": f"audio/pcm;rate={rate}"}}}


class Microphone:
    """A client microphone that never stops: the given speech, then silence frames until stopped."""

    def __init__(self, client: Client, speech: bytes, *, rate: int = 16_000, frame_bytes: int = 3200) -> None:
        self.client, self.speech, self.rate, self.frame_bytes = client, speech, rate, frame_bytes
        self.frames_after: dict[str, int] = {}
        self.sent = 0

    async def run(self) -> None:
        for start in range(0, len(self.speech), self.frame_bytes):
            await self._send(self.speech[start : start + self.frame_bytes])
        while True:
            await self._send(bytes(self.frame_bytes))

    async def _send(self, pcm: bytes) -> None:
        await self.client.send(_genai_audio(pcm, self.rate))
        self.sent += 1
        await asyncio.sleep(0.002)


@asynccontextmanager
async def microphone(client: Client, speech: bytes, **options: Any) -> AsyncIterator[Microphone]:
    mic = Microphone(client, speech, **options)
    task = asyncio.create_task(mic.run())
    try:
        yield mic
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _tone(seconds: float, rate: int = 16_000) -> bytes:
    samples = np.sin(np.arange(int(rate * seconds)) * 2 * np.pi * 220 / rate) * 10_000
    return samples.astype("<i2").tobytes()


def _voice_activity(client: Client) -> list[dict[str, Any]]:
    return [m["voiceActivity"] for m in client.seen.messages if "voiceActivity" in m]


def _input_pieces(client: Client) -> list[dict[str, Any]]:
    return [
        m["serverContent"]["inputTranscription"]
        for m in client.seen.messages
        if "inputTranscription" in m.get("serverContent", {})
    ]


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-3.1-flash-live-preview"])
async def test_continuous_microphone_is_answered_while_frames_keep_coming(
    emulator: RunningEmulator, model: str
) -> None:
    """Speech then silence that never stops: the utterance ends on trailing silence and the answer streams
    while the microphone is still sending; the transcript is the probe prompt's known text."""
    async with connect(emulator.url) as client:
        await client.send(setup(model, realtimeInputConfig=AAD))
        await client.receive()
        async with microphone(client, prompt_pcm()) as mic:
            assert await client.until("turnComplete", wait=10) is not None
            at_answer = mic.sent
            await asyncio.sleep(0.05)
            assert mic.sent > at_answer, "the microphone kept sending through the answer"
    edges = _voice_activity(client)
    assert [e["type"] for e in edges] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert edges[0]["audioOffset"] == "0s"
    end = float(edges[1]["audioOffset"].removesuffix("s"))
    assert 3.0 < end < len(prompt_pcm()) / 32_000 + 0.05
    pieces = _input_pieces(client)
    assert len(pieces) > 1, "interim pieces before the last"
    assert "".join(p["text"] for p in pieces) == PROMPT_TRANSCRIPT
    assert [p.get("finished") for p in pieces] == [None] * (len(pieces) - 1) + [True]
    kinds = client.seen.kinds()
    assert kinds.index("voiceActivity") < kinds.index("serverContent.modelTurn")
    assert "serverContent.generationComplete" in kinds


async def test_telephony_8khz_in_320_byte_chunks_is_one_utterance(emulator: RunningEmulator) -> None:
    """Pipecat's telephony input: 20 ms chunks at 8 kHz; one START, one END, and an answer."""
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD))
        await client.receive()
        async with microphone(client, _tone(1.0, rate=8000), rate=8000, frame_bytes=320):
            usage = await client.until("usageMetadata", wait=10)
    assert usage is not None
    edges = _voice_activity(client)
    assert [e["type"] for e in edges] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert float(edges[1]["audioOffset"].removesuffix("s")) == pytest.approx(1.0, abs=0.03)
    prompt_tokens = usage["usageMetadata"]["promptTokenCount"]
    assert prompt_tokens == pytest.approx(500 + 25, abs=2), "1 s of audio, counted at its declared rate"
    assert "".join(p["text"] for p in _input_pieces(client)) == CANNED_TRANSCRIPT


async def test_silence_alone_is_not_a_turn(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD))
        await client.receive()
        for _ in range(20):
            await client.send(audio_chunk(0.1))
        await client.send({"realtimeInput": {"audioStreamEnd": True}})
        with pytest.raises(TimeoutError):
            await client.receive(wait=0.3)
    assert client.seen.kinds() == ["setupComplete"]


async def test_audio_stream_end_ends_an_utterance_in_progress(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD))
        await client.receive()
        await client.send(_genai_audio(_tone(0.4)))
        await client.send({"realtimeInput": {"audioStreamEnd": True}})
        assert await client.until("turnComplete") is not None
    assert [e["audioOffset"] for e in _voice_activity(client)] == ["0s", "0.400s"]


async def test_manual_activity_turn_as_google_genai_sends_it(emulator: RunningEmulator) -> None:
    """activity_start, 1 s of 16 kHz audio in 100 ms URL-safe chunks, activity_end: answered, counted."""
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=MANUAL))
        await client.receive()
        await client.send({"realtime_input": {"activityStart": {}}})
        speech = _tone(1.0)
        for start in range(0, len(speech), 3200):
            await client.send(_genai_audio(speech[start : start + 3200]))
        await client.send({"realtime_input": {"activityEnd": {}}})
        usage = await client.until("usageMetadata")
    assert usage is not None
    assert usage["usageMetadata"]["promptTokenCount"] == 525
    assert [e["audioOffset"] for e in _voice_activity(client)] == ["0s", "1s"]


async def _first_chunk_then(client: Client, interrupting: dict[str, Any]) -> None:
    await client.until("modelTurn")
    await client.send(interrupting)


def _split_at_interruption(client: Client) -> tuple[list[str], list[str]]:
    kinds = client.seen.kinds()
    cut = kinds.index("serverContent.interrupted")
    return kinds[:cut], kinds[cut + 1 :]


@pytest.mark.parametrize(
    ("config", "interrupting"),
    [
        pytest.param(MANUAL, text_turn("second question"), id="clientContent-turnComplete"),
        pytest.param(MANUAL, {"realtimeInput": {"activityStart": {}}}, id="activityStart"),
        pytest.param(AAD, {"realtimeInput": {"text": "wait"}}, id="realtimeInput.text"),
        pytest.param(AAD, _genai_audio(_tone(0.3)), id="speech-barge-in"),
    ],
)
async def test_input_during_an_answer_interrupts_it(
    emulator_with: EmulatorFactory, config: dict[str, Any], interrupting: dict[str, Any]
) -> None:
    """`interrupted: true`, then turnComplete; the rest of the first answer is dropped, not queued."""
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": SLOW}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=config))
        await client.receive()
        await client.send(text_turn("first question"))
        await _first_chunk_then(client, interrupting)
        assert await client.until("interrupted") is not None
        assert await client.until("turnComplete") is not None
        if "clientContent" in interrupting or "text" in interrupting.get("realtimeInput", {}):
            assert await client.until("generationComplete") is not None  # the new turn is answered in full
    before, after = _split_at_interruption(client)
    assert "serverContent.generationComplete" not in before
    assert before.count("serverContent.modelTurn") < 5, "the answer stopped where it was interrupted"
    assert after[:2] == ["serverContent.turnComplete", "usageMetadata"]


async def test_no_interruption_queues_the_next_turn(emulator_with: EmulatorFactory) -> None:
    """activityHandling NO_INTERRUPTION: the first answer completes, then the activity's turn is answered."""
    config = {**MANUAL, "activityHandling": "NO_INTERRUPTION"}
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": SLOW}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=config))
        await client.receive()
        await client.send(text_turn("first question"))
        await _first_chunk_then(client, {"realtimeInput": {"activityStart": {}}})
        await client.send({"realtimeInput": {"text": "second"}})
        await client.send({"realtimeInput": {"activityEnd": {}}})
        await client.until("turnComplete")
        await client.until("turnComplete")
    kinds = client.seen.kinds()
    assert "serverContent.interrupted" not in kinds
    assert kinds.count("serverContent.generationComplete") == 2


async def test_no_resumable_handle_while_the_model_generates(emulator_with: EmulatorFactory) -> None:
    """Updates between the turn and turnComplete carry no handle; the resumable one follows turnComplete."""
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": SLOW}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup("gemini-3.8-live"))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
        update = await client.until("sessionResumptionUpdate")
    assert update is not None
    assert update["sessionResumptionUpdate"]["resumable"] is True
    turn_complete = next(
        i for i, m in enumerate(client.seen.messages) if "turnComplete" in m.get("serverContent", {})
    )
    during = [
        m["sessionResumptionUpdate"]
        for m in client.seen.messages[:turn_complete]
        if "sessionResumptionUpdate" in m
    ]
    assert during
    assert all(not u.get("newHandle") and not u.get("resumable") for u in during)


async def test_interrupting_a_blocking_call_cancels_it(emulator_with: EmulatorFactory) -> None:
    """A BLOCKING function call awaited when the user speaks up is cancelled with toolCallCancellation."""
    async with emulator_with() as emulator, connect(emulator.url) as client:
        await client.send(setup())  # gemini-2.5: functions are BLOCKING
        await client.receive()
        await client.send(text_turn("Call the get_probe_status function now."))
        call = await client.until("toolCall")
        assert call is not None
        await client.send(text_turn("never mind"))
        cancellation = await client.until("toolCallCancellation")
        assert cancellation is not None
        assert cancellation["toolCallCancellation"]["ids"] == [call["toolCall"]["functionCalls"][0]["id"]]
        assert await client.until("generationComplete") is not None


@pytest.mark.parametrize("model", ["gemini-3.1-flash-live-preview", "gemini-2.5-flash-native-audio-latest"])
async def test_client_content_interrupts_on_every_model(emulator_with: EmulatorFactory, model: str) -> None:
    """3.1 today (and 2.5): clientContent with turnComplete during an answer interrupts it."""
    async with (
        emulator_with(latency_scale=1.0, models={model: SLOW}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup(model))
        await client.receive()
        await client.send(text_turn("first"))
        await _first_chunk_then(client, text_turn("second"))
        assert await client.until("interrupted") is not None
        assert await client.until("generationComplete") is not None


async def test_new_messages_parse_as_google_genai_parses_them(emulator_with: EmulatorFactory) -> None:
    """voiceActivity with audioOffset, interrupted, toolCallCancellation: the SDK's LiveServerMessage keeps
    every field the emulator sends."""
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": SLOW}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD, tools=_blocking_tool()))
        await client.receive()
        await client.send(_genai_audio(_tone(0.5)))
        await client.send(_genai_audio(bytes(32_000)))
        await client.until("modelTurn")
        await client.send(text_turn("Call the get_probe_status function now."))
        await client.until("toolCall")
        await client.send(text_turn("never mind"))
        await client.until("toolCallCancellation")
        await client.until("turnComplete")
    kinds = client.seen.kinds()
    for kind in ("voiceActivity", "serverContent.interrupted", "toolCallCancellation"):
        assert kind in kinds
    for message in client.seen.messages:
        _assert_sdk_sees_everything(message)
    first_edge = next(m for m in client.seen.messages if "voiceActivity" in m)
    parsed = _sdk_parse(first_edge).voice_activity
    assert parsed is not None
    assert (parsed.voice_activity_type, parsed.audio_offset) == ("ACTIVITY_START", "0s")


def _blocking_tool() -> list[dict[str, Any]]:
    declaration = {"name": "get_probe_status", "description": "d", "behavior": "BLOCKING"}
    return [{"functionDeclarations": [declaration]}]


async def test_a_client_sent_1011_is_the_clients_close_and_the_handle_still_resumes(
    emulator: RunningEmulator,
) -> None:
    """LiveKit and Pipecat close with 1011 on a normal shutdown: the session ends as any close does."""
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live"))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
        update = await client.until("sessionResumptionUpdate")
        assert update is not None
        await client.ws.close(code=1011, message=b"")
    handle = update["sessionResumptionUpdate"]["newHandle"]
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", sessionResumption={"handle": handle}))
        assert await client.receive() == {"setupComplete": {}}
        await client.send(text_turn())
        assert await client.until("turnComplete") is not None


async def test_model_history_in_client_content_does_not_call_functions(emulator: RunningEmulator) -> None:
    """A history re-sync naming a function in a `model` turn is context, not a request to call it."""
    history = {
        "clientContent": {
            "turns": [{"role": "model", "parts": [{"text": "I called get_probe_status earlier."}]}],
            "turnComplete": False,
        }
    }
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live"))
        await client.receive()
        await client.send(history)
        await client.send(text_turn("How are you?"))
        await client.until("turnComplete")
    assert "toolCall" not in client.seen.kinds()


async def test_one_long_chunk_with_two_utterances(emulator: RunningEmulator) -> None:
    """Audio sent as one 3-second chunk (speech, pause, speech, pause) holds two utterances; the second
    supersedes the first's answer (START_OF_ACTIVITY_INTERRUPTS), which is answered once, in full."""
    chunk = _tone(0.5) + bytes(32_000) + _tone(0.5) + bytes(32_000)
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD))
        await client.receive()
        await client.send(_genai_audio(chunk))
        assert await client.until("generationComplete") is not None
        await client.until("turnComplete")
        await client.until("sessionResumptionUpdate")  # the handle after the answer
        with pytest.raises(TimeoutError):
            await client.receive(wait=0.3)
    edges = _voice_activity(client)
    assert [e["type"] for e in edges] == ["ACTIVITY_START", "ACTIVITY_END"] * 2
    assert [e["audioOffset"] for e in edges] == ["0s", "0.500s", "1.500s", "2s"]
    assert client.seen.kinds().count("serverContent.generationComplete") == 1


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "tcp-abort"])
async def test_a_client_leaving_mid_answer_ends_the_session_quietly(
    emulator_with: EmulatorFactory, caplog: pytest.LogCaptureFixture, abrupt: bool
) -> None:
    """No error logged, no 1011, and the emulator serves the next connection."""
    async with emulator_with(latency_scale=1.0, models={"gemini-3.8-live": SLOW}) as emulator:
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.8-live"))
            await client.receive()
            await client.send(text_turn())
            await client.until("modelTurn")
            if abrupt:
                transport = client.ws.get_extra_info("socket")
                assert transport is not None
                transport.shutdown(2)  # both directions: the emulator's next writes fail
            else:
                await client.ws.close()
        await asyncio.sleep(0.3)  # the rest of the answer would have streamed meanwhile
        async with connect(emulator.url) as client:
            await client.send(setup("gemini-3.8-live"))
            assert await client.receive() == {"setupComplete": {}}
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_a_hang_silences_the_input_side_too(emulator_with: EmulatorFactory) -> None:
    """After a hang fault struck, speech the client sends gets no voiceActivity either: nothing is sent."""
    faults = [{"kind": "hang", "at": "mid_stream", "after_chunks": 1}]
    async with emulator_with(faults=faults) as emulator, connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=AAD))
        await client.receive()
        await client.send(text_turn())
        await client.until("modelTurn")
        await client.send(_genai_audio(_tone(0.5) + bytes(32_000)))
        with pytest.raises(TimeoutError):
            await client.until("voiceActivity", wait=0.4)
        assert not client.ws.closed
