"""google-genai, pointed at the emulator as a new user points it (`http_options.base_url`,
`SSL_CERT_FILE`, wss), completes a text turn, a manual-activity audio turn and an automatic-activity turn
from a microphone that never stops; every frame both ways validates against the SDK's message types (the
live_stack fixture checks them when the test ends)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest
from google import genai
from google.genai import types

from tests.conformance.audio import RATE, chunks, microphone, speech
from tests.conformance.conftest import StackFactory
from tests.conformance.frames import decoded

TURN_TIMEOUT = 10.0  # the emulator answers in well under a second at latency_scale 0


def client(base_url: str) -> genai.Client:
    return genai.Client(
        api_key="conformance-key", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )


def config(**extra: Any) -> dict[str, Any]:
    return {
        "response_modalities": ["AUDIO"],
        "output_audio_transcription": {},
        "input_audio_transcription": {},
        "session_resumption": {},
        **extra,
    }


async def receive_turn(session: Any) -> tuple[bytes, str, list[types.LiveServerMessage]]:
    """One turn as an app reads it: `receive()` until the SDK says the turn is over."""
    audio, transcript, messages = b"", "", []
    async with asyncio.timeout(TURN_TIMEOUT):
        async for message in session.receive():
            messages.append(message)
            audio += message.data or b""
            content = message.server_content
            if content and content.output_transcription and content.output_transcription.text:
                transcript += content.output_transcription.text
    assert any(m.server_content and m.server_content.turn_complete for m in messages), messages
    return audio, transcript, messages


def seconds_of(audio: bytes) -> float:
    return len(audio) / 2 / 24_000


def rms(audio: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(audio, dtype="<i2").astype(float) ** 2)))


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"])
async def test_text_turn(live_stack: StackFactory, model: str) -> None:
    """A clientContent text turn is answered with speech and its transcript, over wss."""
    async with live_stack() as stack:
        async with client(stack.base_url).aio.live.connect(model=model, config=config()) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Say OK")]), turn_complete=True
            )
            audio, transcript, _ = await receive_turn(session)
        assert seconds_of(audio) > 0.5
        assert rms(audio) > 1000
        assert transcript
        (connection,) = stack.connections
        assert connection.path.endswith(
            "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
        )


async def test_manual_activity_audio_turn(live_stack: StackFactory) -> None:
    """activity_start, 1 s of 16 kHz speech in 100 ms chunks, activity_end: answered (issue 10's first row).

    google-genai encodes Blob.data with the URL-safe base64 alphabet; the server must count every byte."""
    manual = config(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    pcm = speech()
    async with live_stack() as stack:
        async with client(stack.base_url).aio.live.connect(
            model="gemini-3.1-flash-live-preview", config=manual
        ) as session:
            await session.send_realtime_input(activity_start=types.ActivityStart())
            for chunk in chunks(pcm, RATE // 10 * 2):
                await session.send_realtime_input(
                    audio=types.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
                )
            await session.send_realtime_input(activity_end=types.ActivityEnd())
            audio, transcript, _ = await receive_turn(session)
        assert seconds_of(audio) > 0.5
        assert transcript
        sent = [decoded(f) for f in stack.connections[0].sent()]
        blobs = [m["realtime_input"]["audio"]["data"] for m in sent if "audio" in m.get("realtime_input", {})]
        assert len(blobs) == 10
        assert b"".join(base64.urlsafe_b64decode(b) for b in blobs) == pcm  # what the server had to decode


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-3.1-flash-live-preview"])
async def test_automatic_activity_turn_from_a_continuous_microphone(
    live_stack: StackFactory, model: str
) -> None:
    """Speech then silence that keeps coming: the server's activity detection ends the utterance on the
    trailing silence and answers while the microphone is still sending (issue 10's LiveKit/Pipecat rows)."""
    async with live_stack() as stack:
        async with client(stack.base_url).aio.live.connect(model=model, config=config()) as session:
            answered = asyncio.Event()

            async def send(frame: bytes) -> None:
                await session.send_realtime_input(
                    audio=types.Blob(data=frame, mime_type="audio/pcm;rate=16000")
                )

            mic = asyncio.create_task(microphone(send, answered, frame_ms=100))
            try:
                audio, transcript, messages = await receive_turn(session)
            except TimeoutError:
                raise AssertionError(f"no answer to a continuous microphone:\n{stack.describe()}") from None
            finally:
                answered.set()
                sent = await mic
        assert seconds_of(audio) > 0.5
        assert transcript
        activity = [m.voice_activity.voice_activity_type for m in messages if m.voice_activity]
        assert activity[:2] == [types.VoiceActivityType.ACTIVITY_START, types.VoiceActivityType.ACTIVITY_END]
        heard = "".join(
            m.server_content.input_transcription.text or ""
            for m in messages
            if m.server_content and m.server_content.input_transcription
        )
        assert heard
        # The answer came while the microphone kept sending, not after it stopped.
        assert sent * 0.1 > 1.0
        assert not any("audioStreamEnd" in str(decoded(f)) for f in stack.connections[0].sent())
