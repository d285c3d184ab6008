"""The happy path over a real socket: text (clientContent and realtimeInput.text), audio (manual activity),
tool turns, and what the answer contains (24 kHz speech-like audio, transcript, usage, new handle)."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest

from monitor.emulator import RunningEmulator
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import Transcript, audio_chunk, connect, setup, text_turn

ANSWER_TAIL = ["serverContent.generationComplete", "serverContent.turnComplete", "usageMetadata"]


def _assert_complete_answer(seen: Transcript) -> None:
    kinds = seen.kinds()
    assert kinds[:2] == ["setupComplete", "sessionResumptionUpdate"]
    assert seen.messages[1] == {"sessionResumptionUpdate": {}}, "the empty update right after the turn"
    assert kinds[-4:] == [*ANSWER_TAIL, "sessionResumptionUpdate"]
    assert seen.messages[-1]["sessionResumptionUpdate"]["resumable"] is True
    assert seen.messages[-1]["sessionResumptionUpdate"]["newHandle"]
    assert seen.transcript() == "Sure. The line is clear."
    usage = seen.messages[-2]["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["responseTokenCount"] > 0


@pytest.mark.parametrize(
    "turn", [text_turn(), {"realtimeInput": {"text": "Say OK"}}], ids=["clientContent", "realtimeInput.text"]
)
async def test_text_turn(emulator: RunningEmulator, turn: dict[str, object]) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(turn)
        await client.until("sessionResumptionUpdate")  # the empty one
        await client.until("sessionResumptionUpdate")  # the new handle
    _assert_complete_answer(client.seen)


async def test_audio_is_24khz_speech_in_40_to_240_ms_chunks(emulator: RunningEmulator) -> None:
    """Chunks are audio/pcm;rate=24000, 40-240 ms each (last may be shorter), and the reply is not silent."""
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    parts = [
        part["inlineData"]
        for m in client.seen.messages
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    ]
    assert len(parts) > 5
    assert {p["mimeType"] for p in parts} == {"audio/pcm;rate=24000"}
    sizes_ms = [len(base64.b64decode(p["data"])) / 48 for p in parts]
    assert all(40 <= size <= 240 for size in sizes_ms[:-1])
    samples = np.frombuffer(client.seen.audio(), dtype="<i2").astype(np.float64)
    assert 1.5 < len(samples) / 24_000 < 3.0
    assert np.sqrt(np.mean(samples**2)) > 1000, "speech, not silence"


async def test_manual_activity_answers_only_after_activity_end(emulator: RunningEmulator) -> None:
    """activityStart, audio, activityEnd: nothing comes back before activityEnd; then VAD-less 2.5 answers."""
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({"realtimeInput": {"activityStart": {}}})
        for _ in range(5):
            await client.send(audio_chunk(0.1))
        with pytest.raises(asyncio.TimeoutError):
            await client.receive(wait=0.3)
        await client.send({"realtimeInput": {"activityEnd": {}}})
        await client.until("sessionResumptionUpdate")
        await client.until("sessionResumptionUpdate")
    kinds = client.seen.kinds()
    assert kinds[:3] == ["setupComplete", "sessionResumptionUpdate", "serverContent.inputTranscription"]
    _assert_complete_answer(client.seen)
    usage = client.seen.messages[-2]["usageMetadata"]
    assert usage["promptTokensDetails"][0]["modality"] == "AUDIO"


async def test_voice_activity_on_3x_models(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.1-flash-live-preview"))
        await client.receive()
        await client.send({"realtimeInput": {"activityStart": {}}})
        await client.send(audio_chunk(0.2))
        await client.send({"realtimeInput": {"activityEnd": {}}})
        await client.until("turnComplete")
    activity = [m["voiceActivity"]["type"] for m in client.seen.messages if "voiceActivity" in m]
    assert activity == ["ACTIVITY_START", "ACTIVITY_END"]


async def test_automatic_activity_detection_answers_after_audio_stream_end(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup(realtimeInputConfig={}))
        await client.receive()
        await client.send(audio_chunk(0.2, speech=True))
        await client.send({"realtimeInput": {"audioStreamEnd": True}})
        assert await client.until("turnComplete") is not None


async def test_tool_turn(emulator: RunningEmulator) -> None:
    """The turn names a declared function: toolCall, our toolResponse with its id, then the spoken answer."""
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn("Call the get_probe_status function now."))
        call = await client.until("toolCall")
        assert call is not None
        (function_call,) = call["toolCall"]["functionCalls"]
        assert function_call["name"] == "get_probe_status"
        assert function_call["args"] == {}
        await client.send(
            {"tool_response": {"functionResponses": [{"id": function_call["id"], "response": {"ok": True}}]}}
        )
        await client.until("sessionResumptionUpdate")  # the new handle after turnComplete
    kinds = client.seen.kinds()
    assert kinds[:4] == ["setupComplete", "sessionResumptionUpdate", "toolCall", "serverContent.modelTurn"]
    assert kinds[-4:] == [*ANSWER_TAIL, "sessionResumptionUpdate"]


async def test_no_tool_call_when_the_turn_does_not_name_a_function(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn("What is the SSI resource limit?"))
        await client.until("turnComplete")
    assert "toolCall" not in client.seen.kinds()


@pytest.mark.parametrize(
    "responses", [[{"id": "not-the-call", "response": {}}], [{"name": "get_probe_status", "response": {}}]]
)
async def test_tool_response_with_wrong_or_missing_id_is_1008(
    emulator: RunningEmulator, responses: list[dict[str, object]]
) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn("get_probe_status please"))
        await client.until("toolCall")
        await client.send({"toolResponse": {"functionResponses": responses}})
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1008, "Requested entity was not found.")


async def test_function_calling_unsupported_is_1008_when_the_call_fires(
    emulator_with: EmulatorFactory,
) -> None:
    models = {"gemini-2.5-flash-native-audio-preview-12-2025": {"function_calling": False}}
    async with emulator_with(models=models) as emulator, connect(emulator.url) as client:
        await client.send(setup("gemini-2.5-flash-native-audio-preview-12-2025"))
        await client.receive()
        await client.send(text_turn("get_probe_status"))
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (
        1008,
        "Operation is not implemented, or supported, or enabled.",
    )


async def test_latency_is_drawn_from_the_model_profile(emulator_with: EmulatorFactory) -> None:
    """At scale 1, setupComplete takes the model's 200-400 ms (2.5 native audio)."""
    async with emulator_with(latency_scale=1.0) as emulator, connect(emulator.url) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.send(setup())
        await client.receive()
        elapsed = loop.time() - started
    assert 0.2 <= elapsed < 0.6


async def test_latency_override_holds_the_first_chunk(emulator_with: EmulatorFactory) -> None:
    """A scenario can fix first_response (the timing-honesty benchmark holds the first chunk for D)."""
    models = {PINNED: {"latency": {"first_response": [250, 250]}}}
    async with emulator_with(models=models, latency_scale=1.0) as emulator, connect(emulator.url) as client:
        await client.send(setup(PINNED))
        await client.receive()
        loop = asyncio.get_running_loop()
        await client.send(text_turn())
        sent = loop.time()
        await client.until("modelTurn")
        held = loop.time() - sent
    assert 0.25 <= held < 0.32


PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
