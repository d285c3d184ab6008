"""Per-model payload rules and proto3-JSON reading over a real socket: gemini-3.8-live's setup refusals and
NON_BLOCKING function calls, 3.1's clientContent today and at launch, enums by name or number."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.emulator import RunningEmulator, load_scenario
from monitor.emulator.schema import ClientMessageError, normalise
from monitor.emulator.state import apply_overrides
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import Client, connect, setup, text_turn

TOOL_TURN = text_turn("Call the get_probe_status function now.")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        pytest.param(
            {"generationConfig": {"responseModalities": ["AUDIO"], "thinkingConfig": {"thinkingBudget": 0}}},
            "setup.generation_config.thinking_config is not supported by models/gemini-3.8-live.",
            id="thinkingConfig",
        ),
        pytest.param(
            {"generation_config": {"thinking_config": {"thinking_level": "MINIMAL"}}},
            "setup.generation_config.thinking_config is not supported by models/gemini-3.8-live.",
            id="thinking_level-snake",
        ),
        pytest.param(
            {"proactivity": {"proactiveAudio": False}},
            "setup.proactivity.proactive_audio cannot be false: it is always on for models/gemini-3.8-live.",
            id="proactiveAudio-false",
        ),
        pytest.param(
            {"generationConfig": {"enableAffectiveDialog": True}},
            'Invalid JSON payload received. Unknown name "enableAffectiveDialog" at '
            "'setup.generation_config': Cannot find field.",
            id="affective-dialog-removed",
        ),
    ],
)
async def test_gemini_3_8_live_refuses_what_its_page_says(
    emulator: RunningEmulator, extra: dict[str, Any], reason: str
) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup("gemini-3.8-live", **extra))
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1007, reason)
    assert seen.messages == []


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gemini-3.8-live", {"proactivity": {"proactiveAudio": True}}),
        (
            "gemini-3.1-flash-live-preview",
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}},
        ),
        ("gemini-2.5-flash-native-audio-latest", {"generationConfig": {"enableAffectiveDialog": True}}),
    ],
)
async def test_other_models_and_allowed_values_pass(
    emulator: RunningEmulator, model: str, extra: dict[str, Any]
) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup(model, **extra))
        assert await client.receive() == {"setupComplete": {}}


async def _tool_turn(client: Client, model: str, **extra: Any) -> dict[str, Any]:
    await client.send(setup(model, **extra))
    await client.receive()
    await client.send(TOOL_TURN)
    call = await client.until("toolCall")
    assert call is not None
    return dict(call["toolCall"]["functionCalls"][0])


def _tools(behavior: str | None) -> list[dict[str, Any]]:
    declaration: dict[str, Any] = {"name": "get_probe_status", "description": "d"}
    if behavior is not None:
        declaration["behavior"] = behavior
    return [{"functionDeclarations": [declaration]}]


async def test_3_8_calls_are_non_blocking_by_default(emulator: RunningEmulator) -> None:
    """The model keeps talking after its toolCall and completes the turn without waiting for the result;
    the result (WHEN_IDLE, the default scheduling) is answered as its own turn."""
    async with connect(emulator.url) as client:
        call = await _tool_turn(client, "gemini-3.8-live", tools=_tools(None))
        assert await client.until("turnComplete") is not None
        first = client.seen.kinds()
        assert first.index("toolCall") < first.index("serverContent.modelTurn")
        await client.send(
            {"toolResponse": {"functionResponses": [{"id": call["id"], "response": {"ok": 1}}]}}
        )
        assert await client.until("turnComplete") is not None
    assert client.seen.kinds().count("serverContent.generationComplete") == 2


async def test_explicit_blocking_on_3_8_waits_for_the_response(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        call = await _tool_turn(client, "gemini-3.8-live", tools=_tools("BLOCKING"))
        with pytest.raises(TimeoutError):
            await client.receive(wait=0.3)
        await client.send({"toolResponse": {"functionResponses": [{"id": call["id"], "response": {}}]}})
        assert await client.until("turnComplete") is not None


async def test_silent_result_adds_nothing(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        call = await _tool_turn(client, "gemini-3.8-live", tools=_tools("NON_BLOCKING"))
        await client.until("turnComplete")
        await client.until("sessionResumptionUpdate")  # the handle after turnComplete
        answer = {"id": call["id"], "response": {}, "scheduling": "SILENT"}
        await client.send({"toolResponse": {"functionResponses": [answer]}})
        with pytest.raises(TimeoutError):
            await client.receive(wait=0.3)


async def test_interrupt_result_cuts_the_answer_in_progress(emulator_with: EmulatorFactory) -> None:
    slow = {"latency": {"first_response": [0, 0], "chunk_gap": [30, 30], "tool_call": [0, 0]}}
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": slow}) as emulator,
        connect(emulator.url) as client,
    ):
        call = await _tool_turn(client, "gemini-3.8-live")
        await client.until("modelTurn")
        answer = {"id": call["id"], "response": {}, "scheduling": "INTERRUPT"}
        await client.send({"tool_response": {"function_responses": [answer]}})
        assert await client.until("interrupted") is not None
        assert await client.until("generationComplete") is not None  # the result's own answer


async def test_unknown_id_for_a_non_blocking_call_is_1008(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await _tool_turn(client, "gemini-3.8-live")
        await client.send({"toolResponse": {"functionResponses": [{"id": "nope", "response": {}}]}})
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1008, "Requested entity was not found.")


async def test_3_1_accepts_client_content_today_and_the_launch_scenario_refuses_it(
    emulator_with: EmulatorFactory,
) -> None:
    launch = load_scenario("client-content-rejected")
    assert apply_overrides(launch)["gemini-3.1-flash-live-preview"].client_content is False
    for models, refused in (({}, False), (launch.model_dump()["models"], True)):
        async with emulator_with(models=models) as emulator, connect(emulator.url) as client:
            await client.send(setup("gemini-3.1-flash-live-preview"))
            await client.receive()
            await client.send(text_turn())
            await client.until("turnComplete")
        assert (client.seen.close_code == 1007) is refused


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ({"activityHandling": 2}, {"activityHandling": "NO_INTERRUPTION"}),
        ({"activity_handling": "NO_INTERRUPTION"}, {"activityHandling": "NO_INTERRUPTION"}),
        (
            {"automatic_activity_detection": {"start_of_speech_sensitivity": 2, "endOfSpeechSensitivity": 1}},
            {
                "automaticActivityDetection": {
                    "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
                    "endOfSpeechSensitivity": "END_SENSITIVITY_HIGH",
                }
            },
        ),
        ({"turnCoverage": 99}, {"turnCoverage": 99}),  # proto3 enums are open: unknown numbers are kept
    ],
)
def test_enums_by_name_or_number(given: dict[str, Any], read: dict[str, Any]) -> None:
    message = normalise({"setup": {"model": "m", "realtimeInputConfig": given}})
    assert message["setup"]["realtimeInputConfig"] == read


def test_response_modalities_by_number() -> None:
    message = normalise({"setup": {"generation_config": {"response_modalities": [3]}}})
    assert message["setup"]["generationConfig"]["responseModalities"] == ["AUDIO"]


def test_unknown_enum_name_gets_the_parsers_reason() -> None:
    with pytest.raises(ClientMessageError) as caught:
        normalise({"setup": {"realtimeInputConfig": {"activityHandling": "SOMETIMES"}}})
    assert caught.value.reason == (
        "Invalid value at 'setup.realtime_input_config.activity_handling' "
        "(type.googleapis.com/google.ai.generativelanguage.v1beta.RealtimeInputConfig.ActivityHandling), "
        '"SOMETIMES"'
    )


async def test_unknown_enum_closes_1007_over_the_socket(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup(generationConfig={"responseModalities": ["SMELL"]}))
        seen = await client.until_end()
    assert seen.close_code == 1007
    assert seen.close_reason.startswith("Invalid value at 'setup.generation_config.response_modalities[0]'")


async def test_enum_numbers_change_behaviour(emulator_with: EmulatorFactory) -> None:
    """activityHandling given as 2 (NO_INTERRUPTION) is honoured: an activityStart does not interrupt."""
    slow = {"latency": {"first_response": [0, 0], "chunk_gap": [30, 30]}}
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": slow}) as emulator,
        connect(emulator.url) as client,
    ):
        config = {"automaticActivityDetection": {"disabled": True}, "activityHandling": 2}
        await client.send(setup("gemini-3.8-live", realtimeInputConfig=config))
        await client.receive()
        await client.send(text_turn())
        await client.until("modelTurn")
        await client.send({"realtimeInput": {"activityStart": {}}})
        await client.until("turnComplete")
    assert "serverContent.interrupted" not in client.seen.kinds()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            {"clientContent": {"turns": [], "turnComplete": "yes"}},
            "Invalid value at 'client_content.turn_complete' (TYPE_BOOL), \"yes\"",
        ),
        ({"realtimeInput": {"text": 5}}, "Invalid value at 'realtime_input.text' (TYPE_STRING), 5"),
        (
            {"setup": {"generationConfig": {"temperature": "hot"}}},
            "Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        ),
        (
            {"setup": {"realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 1.5}}}},
            "Invalid value at 'setup.realtime_input_config.automatic_activity_detection."
            "silence_duration_ms' (TYPE_INT32), 1.5",
        ),
    ],
)
def test_scalar_fields_are_typed(message: dict[str, Any], reason: str) -> None:
    """proto3 JSON: a string where a bool is due, a number where a string is due, are refused."""
    with pytest.raises(ClientMessageError) as caught:
        normalise(message)
    assert caught.value.reason == reason


def test_scalar_spellings_proto3_json_allows() -> None:
    """int64/int32 as decimal strings, floats as strings or integers: read as numbers."""
    message = normalise(
        {
            "setup": {
                "generationConfig": {"temperature": "0.5", "maxOutputTokens": "256", "topP": 1},
                "contextWindowCompression": {
                    "triggerTokens": "25600",
                    "slidingWindow": {"targetTokens": 12800.0},
                },
            }
        }
    )
    generation = message["setup"]["generationConfig"]
    assert (generation["temperature"], generation["maxOutputTokens"], generation["topP"]) == (0.5, 256, 1.0)
    compression = message["setup"]["contextWindowCompression"]
    assert (compression["triggerTokens"], compression["slidingWindow"]["targetTokens"]) == (25600, 12800)


async def test_mistyped_field_closes_1007_over_the_socket(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({"client_content": {"turns": [{"role": "user", "parts": [{"text": ["a"]}]}]}})
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (
        1007,
        "Invalid value at 'client_content.turns[0].parts[0].text' (TYPE_STRING), [\"a\"]",
    )


async def test_a_pending_result_survives_an_interruption(emulator_with: EmulatorFactory) -> None:
    """A WHEN_IDLE result waiting behind the answer is still answered after the user interrupts it."""
    slow = {"latency": {"first_response": [0, 0], "chunk_gap": [30, 30], "tool_call": [0, 0]}}
    async with (
        emulator_with(latency_scale=1.0, models={"gemini-3.8-live": slow}) as emulator,
        connect(emulator.url) as client,
    ):
        call = await _tool_turn(client, "gemini-3.8-live")
        await client.until("modelTurn")
        await client.send({"toolResponse": {"functionResponses": [{"id": call["id"], "response": {}}]}})
        await client.send({"realtimeInput": {"text": "and the weather?"}})
        assert await client.until("interrupted") is not None
        assert await client.until("generationComplete") is not None
        assert await client.until("generationComplete") is not None
    after = client.seen.kinds()[client.seen.kinds().index("serverContent.interrupted") :]
    assert after.count("serverContent.generationComplete") == 2, "the result's answer and the new question's"
