"""Whatever a client sends (any setup, then any frame or audio), the emulator answers like the service:
the session goes on, or the socket closes with a 1007/1008 reason; it never hangs and never fails inside (a
1011 would mean a bug)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.emulator import RunningEmulator
from tests.integration.emulator.wsclient import connect, setup, text_turn

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12)
)
_NAMES = st.sampled_from(
    ["audio", "data", "mimeType", "mime_type", "text", "turns", "parts", "role", "turnComplete",
     "activityStart", "activityEnd", "audioStreamEnd", "functionResponses", "id", "scheduling", "mediaChunks",
     "bogus", "video"]
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3)
)
_MESSAGES = st.dictionaries(
    st.sampled_from(
        ["clientContent", "realtime_input", "realtimeInput", "toolResponse", "setup", "nonsense"]
    ),
    _VALUES,
    min_size=1,
    max_size=2,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=_MESSAGES)
async def test_any_frame_is_answered_or_refused_with_a_reason(
    emulator: RunningEmulator, message: Any
) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live"))
        await client.receive()
        await client.send(message)
        await client.send(text_turn())
        async with asyncio.timeout(5):
            await client.until("turnComplete")
        if client.seen.close_code is not None:
            assert client.seen.close_code in (1007, 1008), (json.dumps(message), client.seen.close_reason)
            assert client.seen.close_reason


_MIME = st.sampled_from(
    ["audio/pcm;rate=16000", "audio/pcm;rate=8000", "audio/pcm;rate=44100", "audio/pcm", "audio/ogg",
     "audio/pcm;rate=0", "audio/pcm;rate=x", "video/mp4", "", "audio/pcm;;rate=16000;"]
)  # fmt: skip
_AUDIO = st.builds(
    lambda mime, data, urlsafe: {
        "realtimeInput": {
            "audio": {
                "mimeType": mime,
                "data": (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data)
                .decode()
                .rstrip("="),
            }
        }
    },
    _MIME,
    st.binary(max_size=4000),
    st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(_AUDIO, min_size=1, max_size=6), manual=st.booleans())
async def test_any_audio_is_taken_or_refused_with_a_reason(
    emulator: RunningEmulator, chunks: list[dict[str, Any]], manual: bool
) -> None:
    """Odd byte counts, any rate, compressed or refused types, in either activity mode."""
    config = {"automaticActivityDetection": {"disabled": manual}}
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=config))
        await client.receive()
        if manual:
            await client.send({"realtimeInput": {"activityStart": {}}})
        for chunk in chunks:
            await client.send(chunk)
        await client.send({"realtimeInput": {"activityEnd": {}} if manual else {"audioStreamEnd": True}})
        await client.send(text_turn())
        async with asyncio.timeout(5):
            await client.until("turnComplete")
        if client.seen.close_code is not None:
            assert client.seen.close_code == 1007, client.seen.close_reason
            assert "realtime_input.audio" in client.seen.close_reason


_SETUP_FIELDS = st.fixed_dictionaries(
    {"model": st.sampled_from(["models/gemini-3.8-live", "models/gemini-3.1-flash-live-preview"])},
    optional={
        "generationConfig": st.dictionaries(
            st.sampled_from(["responseModalities", "temperature", "thinkingConfig", "speech_config", "seed"]),
            _VALUES,
            max_size=3,
        ),
        "realtimeInputConfig": st.dictionaries(
            st.sampled_from(["automaticActivityDetection", "activity_handling", "turnCoverage"]),
            _VALUES
            | st.dictionaries(
                st.sampled_from(
                    ["disabled", "silenceDurationMs", "prefix_padding_ms", "startOfSpeechSensitivity"]
                ),
                _SCALARS,
                max_size=3,
            ),
            max_size=3,
        ),
        "sessionResumption": _VALUES,
        "proactivity": _VALUES,
        "tools": _VALUES,
        "systemInstruction": _VALUES,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_SETUP_FIELDS)
async def test_any_setup_is_completed_or_refused_with_a_reason(emulator: RunningEmulator, body: Any) -> None:
    async with connect(emulator.url) as client:
        await client.send({"setup": body})
        async with asyncio.timeout(5):
            first = await client.receive()
        if first is None:
            assert client.seen.close_code in (1007, 1008), (json.dumps(body), client.seen.close_reason)
            assert client.seen.close_reason
        else:
            assert first == {"setupComplete": {}}
