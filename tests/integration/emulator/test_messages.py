"""Client message handling over a real socket: spellings, unknown fields, one key per message, setup rules,
the capability table's refusals, and the server's frame format."""

from __future__ import annotations

import json

import aiohttp
import pytest

from monitor.emulator import RunningEmulator
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import connect, setup, text_turn


async def test_snake_case_everywhere_is_accepted(emulator: RunningEmulator) -> None:
    """The SDK's mixed spelling (snake_case top level and nested) is read like camelCase."""
    snake_setup = {
        "setup": {
            "model": "models/gemini-2.5-flash-native-audio-latest",
            "generation_config": {
                "response_modalities": ["AUDIO"],
                "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Puck"}}},
                "thinking_config": {"thinking_budget": 0},
            },
            "session_resumption": {},
            "output_audio_transcription": {},
            "context_window_compression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": 1}},
            "realtime_input_config": {"automatic_activity_detection": {"disabled": True}},
        }
    }
    async with connect(emulator.url) as client:
        await client.send(snake_setup)
        assert await client.receive() == {"setupComplete": {}}
        await client.send(
            {
                "client_content": {
                    "turns": [{"role": "user", "parts": [{"text": "hi"}]}],
                    "turn_complete": True,
                }
            }
        )
        assert await client.until("turnComplete") is not None
    assert client.seen.transcript() == "Sure. The line is clear."


@pytest.mark.parametrize(
    ("message_after_setup", "reason"),
    [
        pytest.param(
            {"toolResponse": {"functionResponses": [{"id": "x", "scheduling": "SILENT", "bogus": 1}]}},
            "Invalid JSON payload received. Unknown name \"bogus\" at 'tool_response.function_responses[0]': "
            "Cannot find field.",
            id="nested-in-list",
        ),
        pytest.param(
            {"client_content": {"turns": [{"parts": [{"text": "a", "textColour": "red"}]}]}},
            'Invalid JSON payload received. Unknown name "textColour" at '
            "'client_content.turns[0].parts[0]': Cannot find field.",
            id="snake-path",
        ),
        pytest.param(
            {"realtimeInput": {"audio_blob": {}}},
            "Invalid JSON payload received. Unknown name \"audio_blob\" at 'realtime_input': "
            "Cannot find field.",
            id="realtime-input",
        ),
        pytest.param(
            {"bidiThing": {}},
            'Invalid JSON payload received. Unknown name "bidiThing": Cannot find field.',
            id="top-level",
        ),
    ],
)
async def test_unknown_fields_get_1007_with_the_parsers_wording(
    emulator: RunningEmulator, message_after_setup: dict[str, object], reason: str
) -> None:
    """An unknown field anywhere closes 1007 naming the field and its proto path."""
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(message_after_setup)
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1007, reason)


async def test_unknown_setup_field_names_setup_path(emulator: RunningEmulator) -> None:
    """`cachedContent` is not a Live setup field (observed wording)."""
    async with connect(emulator.url) as client:
        await client.send({"setup": {"model": "models/gemini-3.8-live", "cachedContent": "x"}})
        seen = await client.until_end()
    assert seen.close_reason == (
        "Invalid JSON payload received. Unknown name \"cachedContent\" at 'setup': Cannot find field."
    )


async def test_two_top_level_keys_are_refused(emulator: RunningEmulator) -> None:
    """A client message carries exactly one of setup/clientContent/realtimeInput/toolResponse."""
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({**text_turn(), "realtimeInput": {"text": "x"}})
        seen = await client.until_end()
    assert seen.close_code == 1007
    assert "Oneof field 'message_type' is already set" in seen.close_reason


@pytest.mark.parametrize(
    "first", [text_turn(), {"realtimeInput": {"text": "hi"}}], ids=["clientContent", "realtimeInput"]
)
async def test_setup_must_come_first(emulator: RunningEmulator, first: dict[str, object]) -> None:
    """Anything before setup is an invalid argument."""
    async with connect(emulator.url) as client:
        await client.send(first)
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1007, "Request contains an invalid argument.")


async def test_setup_only_once(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send(setup())
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1007, "Request contains an invalid argument.")


async def test_json_in_binary_client_frames(emulator: RunningEmulator) -> None:
    """Client JSON may come in binary frames too."""
    async with connect(emulator.url) as client:
        await client.send(setup(), binary=True)
        assert await client.receive() == {"setupComplete": {}}
        await client.send(text_turn(), binary=True)
        assert await client.until("turnComplete") is not None


async def test_non_json_frame_is_1007(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.ws.send_str("setup please")
        seen = await client.until_end()
    assert seen.close_code == 1007
    assert seen.close_reason.startswith("Invalid JSON payload received.")


async def test_media_chunks_are_refused_as_deprecated(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({"realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm", "data": "AAAA"}]}})
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (
        1007,
        "realtime_input.media_chunks is deprecated. Use audio, video, or text instead.",
    )


@pytest.mark.parametrize("model", ["gemini-2.5-flash-native-audio-latest", "gemini-3.1-flash-live-preview"])
async def test_text_modality_is_refused_by_audio_models(emulator: RunningEmulator, model: str) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup(model, generationConfig={"responseModalities": ["TEXT"]}))
        seen = await client.until_end()
    full = (
        "The requested combination of response modalities (TEXT) is not supported by the model. "
        f"models/{model}"
    )
    assert (seen.close_code, seen.close_reason) == (1007, full.encode()[:123].decode())


async def test_unknown_model_is_1008_cut_at_123_bytes(emulator: RunningEmulator) -> None:
    """The observed reason for a retired model, byte for byte (ADKST 2025-12-11)."""
    url = emulator.base_url + "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
    async with connect(url) as client:
        await client.send(setup("gemini-2.0-flash-live-001"))
        seen = await client.until_end()
    assert seen.close_code == 1008
    assert seen.close_reason == (
        "models/gemini-2.0-flash-live-001 is not found for API version v1alpha, or is not supported for "
        "bidiGenerateContent. Call Li"
    )
    assert len(seen.close_reason.encode()) == 123


async def test_gemini_only_model_is_not_found_on_vertex(emulator: RunningEmulator) -> None:
    url = emulator.base_url + "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
    resource = "projects/p/locations/us-central1/publishers/google/models/gemini-3.1-flash-live-preview"
    async with connect(url) as client:  # express mode: an API key (bearer tokens must be issued)
        await client.send({"setup": {"model": resource}})
        seen = await client.until_end()
    assert seen.close_code == 1008
    assert seen.close_reason.startswith(f"Publisher Model `{resource}` was not found")


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        ("gemini-3.1-flash-live-preview", False),
        ("gemini-3.8-live", False),
        ("gemini-2.5-flash-native-audio-latest", False),
        ("gemini-3.1-flash-live-preview", True),
    ],
    ids=["3.1-today", "3.8", "2.5", "3.1-at-launch"],
)
async def test_client_content_per_capability(
    emulator_with: EmulatorFactory, model: str, refused: bool
) -> None:
    """Today every model answers mid-session clientContent; 3.1 at launch refused it with 1007."""
    models = {model: {"client_content": False}} if refused else {}
    async with emulator_with(models=models) as emulator, connect(emulator.url) as client:
        await client.send(setup(model))
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    seen = client.seen
    if refused:
        assert (seen.close_code, seen.close_reason) == (1007, "Request contains an invalid argument.")
        assert seen.kinds() == ["setupComplete"]
    else:
        assert seen.close_code is None
        assert "serverContent.turnComplete" in seen.kinds()


async def test_client_content_seeds_history_when_allowed(emulator_with: EmulatorFactory) -> None:
    """At launch, with initialHistoryInClientContent, 3.1 took clientContent as history, then answered."""
    models = {"gemini-3.1-flash-live-preview": {"client_content": False}}
    async with emulator_with(models=models) as emulator, connect(emulator.url) as client:
        await client.send(
            setup("gemini-3.1-flash-live-preview", historyConfig={"initialHistoryInClientContent": True})
        )
        await client.receive()
        await client.send(text_turn("earlier conversation"))
        await client.send({"realtimeInput": {"text": "and now?"}})
        assert await client.until("turnComplete") is not None


async def test_capability_override_from_scenario(emulator_with: EmulatorFactory) -> None:
    """A scenario can switch clientContent off for any model."""
    async with (
        emulator_with(models={"gemini-3.8-live": {"client_content": False}}) as emulator,
        connect(emulator.url) as client,
    ):
        await client.send(setup("gemini-3.8-live"))
        await client.receive()
        await client.send(text_turn())
        seen = await client.until_end()
    assert seen.close_code == 1007


@pytest.mark.parametrize(
    ("frames", "expected"), [("binary", aiohttp.WSMsgType.BINARY), ("text", aiohttp.WSMsgType.TEXT)]
)
async def test_server_frames_are_pretty_json(
    emulator_with: EmulatorFactory, frames: str, expected: aiohttp.WSMsgType
) -> None:
    """Binary frames with indented JSON by default (as the service); text frames as an option."""
    async with emulator_with(frames=frames) as emulator, connect(emulator.url) as client:
        await client.send(setup())
        frame = await client.ws.receive()
    assert frame.type is expected
    raw = frame.data.decode() if isinstance(frame.data, bytes) else frame.data
    assert raw == json.dumps({"setupComplete": {}}, indent=2) + "\n"
