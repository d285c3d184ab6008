"""Client message building, server frame parsing, and the SDK as the independent judge of our wire format."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google import genai
from google.genai import _common, types
from google.genai import _live_converters as converters
from hypothesis import given
from hypothesis import strategies as st

from monitor.live import messages as wire
from monitor.live.duration import parse_duration
from monitor.live.errors import ProtocolError
from monitor.probe import plans
from monitor.probe.audio import prompt_chunks
from monitor.probe.outcome import ProbeKind
from monitor.probe.target import ProbeTarget, TextPath
from tests.unit.live.scripted_server import PATH


class TestDuration:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            pytest.param("50s", 50.0, id="whole"),
            pytest.param("1.5s", 1.5, id="fraction"),
            pytest.param("0.000000001s", 1e-9, id="nanos"),
            pytest.param("-2s", -2.0, id="negative"),
            pytest.param(" 57s ", 57.0, id="padded"),
        ],
    )
    def test_parses_protobuf_durations(self, text: str, seconds: float) -> None:
        """goAway.timeLeft strings become float seconds."""
        assert parse_duration(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text", ["50", "s", "1.5", "1,5s", "1.5ms", "", "1.0000000001s"])
    def test_rejects_non_durations(self, text: str) -> None:
        """Anything that is not a proto3 Duration is a ValueError naming the text."""
        with pytest.raises(ValueError, match="not a protobuf Duration"):
            parse_duration(text)


class TestSetup:
    def test_default_payload_is_incident_000s_production_payload(self) -> None:
        """AUDIO, Puck, thinkingBudget 0, compression, resumption {}, manual activity, tools, transcripts."""
        setup = wire.setup_message("models/m")["setup"]
        assert setup["model"] == "models/m"
        generation = setup["generationConfig"]
        assert generation["responseModalities"] == ["AUDIO"]
        assert generation["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Puck"
        assert generation["thinkingConfig"] == {"thinkingBudget": 0}
        assert setup["contextWindowCompression"]["slidingWindow"]["targetTokens"] == 12500
        assert setup["sessionResumption"] == {}  # {"handle": null} is rejected by 3.1
        assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
        assert setup["systemInstruction"]["parts"][0]["text"]
        declaration = setup["tools"][0]["functionDeclarations"][0]
        assert declaration["name"] == wire.PROBE_TOOL_NAME
        assert "parameters" not in declaration  # an empty OBJECT schema is rejected by the API
        assert setup["inputAudioTranscription"] == {}
        assert setup["outputAudioTranscription"] == {}

    def test_default_payload_drops_what_a_model_rejects(self) -> None:
        """gemini-3.8-live does not support thinkingConfig; other models keep incident 000's payload."""
        assert (
            "thinkingConfig" not in wire.setup_message("models/gemini-3.8-live")["setup"]["generationConfig"]
        )
        assert (
            "thinkingConfig"
            in wire.setup_message("models/gemini-3.1-flash-live-preview")["setup"]["generationConfig"]
        )
        user = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
        assert (
            wire.setup_message("models/gemini-3.8-live", user)["setup"]["generationConfig"]
            == user["generationConfig"]
        )

    def test_resume_sends_the_handle(self) -> None:
        assert wire.setup_message("models/m", handle="h-9")["setup"]["sessionResumption"] == {"handle": "h-9"}

    def test_user_payload_is_sent_unchanged_except_the_model(self) -> None:
        """A user's production payload keeps every field, spelling and value; only `model` is ours."""
        payload = {
            "model": "models/theirs",
            "generation_config": {"response_modalities": ["AUDIO"]},
            "x": [1],
        }
        message = wire.setup_message("models/ours", payload)
        assert message == {
            "setup": {"model": "models/ours", "generation_config": payload["generation_config"], "x": [1]}
        }
        assert payload["model"] == "models/theirs"  # the caller's mapping is not mutated

    def test_user_payload_resumes_with_handle_in_one_spelling(self) -> None:
        message = wire.setup_message("models/m", {"session_resumption": {}}, handle="h")
        assert message["setup"] == {"model": "models/m", "sessionResumption": {"handle": "h"}}

    @pytest.mark.parametrize(
        ("model", "url", "resource"),
        [
            pytest.param("gemini-3.8-live", "wss://x" + PATH, "models/gemini-3.8-live", id="bare-id"),
            pytest.param("models/gemini-3.8-live", "wss://x" + PATH, "models/gemini-3.8-live", id="prefixed"),
            pytest.param(
                "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio",
                "wss://us-central1-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
                "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio",
                id="vertex-full-name",
            ),
        ],
    )
    def test_model_resource(self, model: str, url: str, resource: str) -> None:
        assert wire.model_resource(model, url) == resource

    def test_vertex_needs_the_full_resource_name(self) -> None:
        url = (
            "wss://aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
        )
        with pytest.raises(ValueError, match="model: Vertex AI needs the full resource name"):
            wire.model_resource("gemini-live-2.5-flash-native-audio", url)


class TestClientMessages:
    def test_audio_chunk_is_base64_pcm_at_16_khz(self) -> None:
        message = wire.audio_chunk(b"\x01\x00\x02\x00")
        assert message == {
            "realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "AQACAA=="}}
        }

    def test_turn_messages(self) -> None:
        assert wire.client_content_text("hi") == {
            "clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": True}
        }
        assert wire.realtime_text("hi") == {"realtimeInput": {"text": "hi"}}
        assert wire.activity_start() == {"realtimeInput": {"activityStart": {}}}
        assert wire.activity_end() == {"realtimeInput": {"activityEnd": {}}}
        assert wire.tool_response("fc-1", "f", {"a": 1}) == {
            "toolResponse": {"functionResponses": [{"id": "fc-1", "name": "f", "response": {"a": 1}}]}
        }

    def test_audio_plan_is_paced_100ms_chunks_between_activity_signals(self) -> None:
        target = ProbeTarget(endpoint="e", url="ws://x", model="m")
        plan = plans.turn_plan(ProbeKind.AUDIO, target)
        assert plan.messages[0] == wire.activity_start()
        assert plan.messages[-1] == wire.activity_end()
        chunks = plan.messages[1:-1]
        assert len(chunks) == len(prompt_chunks()) >= 30  # a few seconds of speech
        assert plan.pace_seconds == pytest.approx(0.1)

    @pytest.mark.parametrize(
        ("path", "setup", "shape"),
        [
            pytest.param(TextPath.CLIENT_CONTENT, None, ["clientContent"], id="client-content"),
            pytest.param(
                TextPath.REALTIME_INPUT, None, ["activityStart", "text", "activityEnd"], id="realtime-manual"
            ),
            pytest.param(TextPath.REALTIME_INPUT, {}, ["text"], id="realtime-automatic-activity"),
        ],
    )
    def test_text_plan_per_text_path(
        self, path: TextPath, setup: dict[str, Any] | None, shape: list[str]
    ) -> None:
        """realtimeInput.text is bracketed by activity signals when the setup disables automatic detection."""
        target = ProbeTarget(endpoint="e", url="ws://x", model="m", text_path=path, setup=setup)
        plan = plans.turn_plan(ProbeKind.TEXT, target)
        got = [next(iter(m.get("realtimeInput", {"clientContent": 0}))) for m in plan.messages]
        assert got == shape


def _camel(value: Any, key: str = "") -> Any:
    """Key spelling and base64 alphabet normalised: proto3 JSON accepts both of each."""
    if key == "data" and isinstance(value, str):
        return value.replace("-", "+").replace("_", "/")
    if isinstance(value, dict):
        return {
            (camel := re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)): _camel(v, camel)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _probe_messages() -> list[dict[str, Any]]:
    target = ProbeTarget(endpoint="e", url="ws://x", model="m", text_path=TextPath.REALTIME_INPUT)
    sent: list[dict[str, Any]] = [wire.setup_message("models/m"), wire.setup_message("models/m", handle="h")]
    for kind in ProbeKind:
        sent.extend(dict(m) for m in plans.turn_plan(kind, target).messages[:3])
        sent.extend(
            dict(m)
            for m in plans.turn_plan(kind, ProbeTarget(endpoint="e", url="ws://x", model="m")).messages
        )
    sent.append(wire.tool_response("fc-1", wire.PROBE_TOOL_NAME, plans.TOOL_RESULT))
    return sent


@pytest.fixture(scope="module")
def sdk_client() -> genai.Client:
    return genai.Client(api_key="AIzaNOT-A-REAL-KEY", http_options={"api_version": "v1beta"})


class TestAgainstTheSdk:
    """google-genai 3.4.0 judges every client message the probe sends."""

    @pytest.mark.parametrize("message", _probe_messages(), ids=lambda m: next(iter(m)))
    def test_every_probe_message_validates_and_matches_the_sdk_serialisation(
        self, message: dict[str, Any], sdk_client: genai.Client
    ) -> None:
        """Parsed by the SDK's pydantic models (unknown fields forbidden), re-serialised by the SDK's own
        converter, the result equals what we send (modulo the key spelling the server accepts both ways)."""
        if "setup" in message:
            # LiveClientSetup lacks realtimeInputConfig; the SDK builds setup from LiveConnectConfig instead.
            setup = dict(message["setup"])
            model = setup.pop("model")
            flat = {
                **{k: v for k, v in setup.items() if k != "generationConfig"},
                **setup["generationConfig"],
            }
            config = types.LiveConnectConfig.model_validate(flat)
            parameters = types.LiveConnectParameters(model=model, config=config).model_dump(exclude_none=True)
            sdk_wire = _common.convert_to_dict(
                converters._LiveConnectParameters_to_mldev(
                    api_client=sdk_client._api_client, from_object=parameters
                )
            )
            del sdk_wire["config"]
        else:
            parsed = types.LiveClientMessage.model_validate_json(json.dumps(message))
            sdk_wire = converters._LiveClientMessage_to_mldev(sdk_client._api_client, parsed)
        sdk_wire = _common.encode_unserializable_types(_common.convert_to_dict(sdk_wire))
        assert _camel(sdk_wire) == _camel(message)

    def test_an_unknown_field_is_caught_by_the_judge(self) -> None:
        """The check above can fail: the SDK rejects a field the server would reject with 1007."""
        bad = {"toolResponse": {"functionResponses": [{"id": "1", "name": "f", "response": {}, "bogus": 1}]}}
        with pytest.raises(ValueError, match="bogus"):
            types.LiveClientMessage.model_validate_json(json.dumps(bad))


AUDIO_PART = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAAA"}}


class TestParse:
    @pytest.mark.parametrize(
        ("frame", "kinds"),
        [
            pytest.param({"setupComplete": {}}, ("setupComplete",), id="setup-complete"),
            pytest.param({"setup_complete": {}}, ("setupComplete",), id="setup-complete-snake"),
            pytest.param({"sessionResumptionUpdate": {}}, ("sessionResumptionUpdate",), id="empty-update"),
            pytest.param(
                {"serverContent": {"modelTurn": {"parts": [AUDIO_PART]}}},
                ("serverContent.modelTurn",),
                id="audio",
            ),
            pytest.param(
                {"serverContent": {"turnComplete": True}, "usageMetadata": {"promptTokenCount": 1}},
                ("serverContent.turnComplete", "usageMetadata"),
                id="turn-complete-with-usage",
            ),
            pytest.param({"serverContent": {}}, ("serverContent",), id="empty-content"),
            pytest.param({"goAway": {"timeLeft": "50s"}}, ("goAway",), id="goaway"),
            pytest.param(
                {"toolCall": {"functionCalls": [{"id": "fc-1", "name": "f", "args": {}}]}},
                ("toolCall",),
                id="tool",
            ),
            pytest.param(
                {"voiceActivity": {"type": "ACTIVITY_START"}}, ("voiceActivity",), id="voice-activity"
            ),
            pytest.param(
                {"setupComplete": {}, "newThing": 1}, ("setupComplete", "newThing"), id="extra-key-kept"
            ),
        ],
    )
    def test_kinds(self, frame: dict[str, Any], kinds: tuple[str, ...]) -> None:
        assert wire.parse_server_frame(json.dumps(frame)).kinds == kinds

    @pytest.mark.parametrize("encode", [lambda s: s, lambda s: s.encode(), lambda s: s.encode() + b"\n"])
    def test_binary_and_text_frames_parse_alike(self, encode: Any) -> None:
        """The real service sends binary frames of (pretty) JSON; text frames are accepted too."""
        text = json.dumps({"serverContent": {"modelTurn": {"parts": [AUDIO_PART]}}}, indent=2)
        message = wire.parse_server_frame(encode(text))
        assert message.content is not None
        assert message.content.audio == (wire.AudioChunk("audio/pcm;rate=24000", b"\x00\x00\x00"),)

    def test_snake_case_at_every_level(self) -> None:
        frame = {
            "server_content": {
                "model_turn": {
                    "parts": [{"inline_data": {"mime_type": "audio/pcm;rate=24000", "data": "AAAA"}}]
                },
                "output_transcription": {"text": "Paris"},
                "turn_complete": True,
            },
            "usage_metadata": {"prompt_token_count": "509", "response_token_count": 11},
        }
        message = wire.parse_server_frame(json.dumps(frame))
        assert message.content == wire.ServerContent(
            audio=(wire.AudioChunk("audio/pcm;rate=24000", b"\x00\x00\x00"),),
            output_transcript="Paris",
            turn_complete=True,
        )
        assert message.usage == wire.Usage(prompt_tokens=509, response_tokens=11)

    def test_vertex_usage_names(self) -> None:
        message = wire.parse_server_frame(json.dumps({"usageMetadata": {"candidatesTokenCount": 7}}))
        assert message.usage == wire.Usage(prompt_tokens=None, response_tokens=7)

    @pytest.mark.parametrize(
        ("update", "handle"),
        [
            pytest.param({"newHandle": "h1", "resumable": True}, "h1", id="usable"),
            pytest.param({"newHandle": "h1", "resumable": False}, "", id="not-resumable"),
            pytest.param({}, "", id="empty"),
        ],
    )
    def test_resumption_handles(self, update: dict[str, Any], handle: str) -> None:
        assert wire.parse_server_frame(json.dumps({"sessionResumptionUpdate": update})).new_handle == handle

    def test_goaway_and_tool_call_fields(self) -> None:
        assert wire.parse_server_frame('{"goAway": {"timeLeft": "1.5s"}}').go_away_seconds == 1.5
        call = wire.parse_server_frame('{"toolCall": {"functionCalls": [{"id": "fc-1", "name": "f"}]}}')
        assert call.function_calls == (wire.FunctionCall(id="fc-1", name="f", args={}),)

    @pytest.mark.parametrize(
        "frame",
        [
            pytest.param(b"\xff\xfe", id="not-utf8"),
            pytest.param("{not json", id="not-json"),
            pytest.param("[1, 2]", id="array"),
            pytest.param('"setupComplete"', id="string"),
            pytest.param('{"error": {"code": 500}}', id="unknown-message"),
            pytest.param("{}", id="empty-object"),
            pytest.param('{"serverContent": []}', id="content-not-object"),
            pytest.param('{"serverContent": {"modelTurn": {"parts": {}}}}', id="parts-not-list"),
            pytest.param('{"serverContent": {"modelTurn": {"parts": [1]}}}', id="part-not-object"),
            pytest.param(
                '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": 5}}]}}}',
                id="data-not-string",
            ),
            pytest.param('{"goAway": {"timeLeft": "soon"}}', id="bad-duration"),
            pytest.param('{"usageMetadata": {"promptTokenCount": "many"}}', id="bad-count"),
        ],
    )
    def test_malformed_frames_are_protocol_errors(self, frame: bytes | str) -> None:
        """A malformed server frame becomes a typed error (then an outcome), never a crash."""
        with pytest.raises(ProtocolError):
            wire.parse_server_frame(frame)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["setupComplete", "serverContent", "modelTurn", "parts", "inlineData", "data", "mimeType",
             "toolCall", "functionCalls", "goAway", "timeLeft", "usageMetadata", "promptTokenCount",
             "sessionResumptionUpdate", "newHandle", "resumable", "turnComplete", "outputTranscription",
             "text", "id", "args", "x_y"]
        ),
        children,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


@given(frame=_json)
def test_any_json_parses_or_is_a_protocol_error(frame: Any) -> None:
    """Arbitrary server JSON never crashes the parser: a ServerMessage or a ProtocolError, nothing else."""
    try:
        message = wire.parse_server_frame(json.dumps(frame).encode())
    except ProtocolError:
        return
    assert message.kinds
