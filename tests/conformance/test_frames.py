"""The judge itself: google-genai's types accept what the service and the SDKs really send (both base64
alphabets, snake_case inside, the probe's own payloads) and refuse what they would not (unknown fields, bad
base64, a server key the SDK would silently drop), so a conformance test can fail."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from monitor.live import messages as wire
from tests.conformance.frames import ConformanceError, check_client_frame, check_server_frame
from tests.conformance.proxy import Direction, Frame

PCM = bytes([0xFB, 0xFF, 0xFE, 0x7F] * 40)  # bytes whose base64 differs between the alphabets


def client(message: dict[str, Any]) -> Frame:
    return Frame(Direction.CLIENT, binary=False, data=json.dumps(message).encode())


def server(message: dict[str, Any]) -> Frame:
    return Frame(Direction.SERVER, binary=True, data=json.dumps(message, indent=2).encode())


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(PCM).decode(),
        base64.urlsafe_b64encode(PCM).decode(),  # what google-genai sends
        base64.urlsafe_b64encode(PCM[:5]).decode().rstrip("="),  # unpadded
    ],
)
def test_audio_in_either_base64_alphabet_is_accepted(encoded: str) -> None:
    """proto3 JSON reads bytes in both alphabets, padded or not; the judge must too."""
    message = {"realtime_input": {"audio": {"data": encoded, "mime_type": "audio/pcm;rate=16000"}}}
    parsed = check_client_frame(client(message))
    assert parsed.realtime_input is not None
    assert parsed.realtime_input.audio is not None
    assert parsed.realtime_input.audio.data in (PCM, PCM[:5])


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"realtimeInput": {"audio": {"data": "!!", "mimeType": "audio/pcm"}}}, "base64"),
        ({"realtimeInput": {"audioo": {}}}, "Extra inputs"),
        ({"toolResponse": {"functionResponses": [{"id": "1", "schedulingg": "SILENT"}]}}, "Extra inputs"),
        ({"setup": {"model": "m", "realtimeInputConfig": {"automaticActivityDetection": {"x": 1}}}}, "Extra"),
        ({"setup": {"model": "m"}, "clientContent": {}}, "exactly one"),
        ({"clientContentt": {}}, "exactly one"),
    ],
)
def test_what_the_service_refuses_is_refused(message: dict[str, Any], words: str) -> None:
    """Unknown fields at any depth, bad base64 and two messages in one frame fail the conformance check."""
    with pytest.raises(ConformanceError, match=words):
        check_client_frame(client(message))


@pytest.mark.parametrize(
    "model", ["gemini-2.5-flash-native-audio-latest", "gemini-3.1-flash-live-preview", "gemini-3.8-live"]
)
def test_the_probes_own_messages_conform(model: str) -> None:
    """Every message the probe builds validates, including 3.8's BLOCKING declaration."""
    for message in (
        wire.setup_message(f"models/{model}"),
        wire.setup_message(f"models/{model}", handle="h-1"),
        wire.client_content_text("Say OK"),
        wire.realtime_text("Say OK"),
        wire.activity_start(),
        wire.audio_chunk(PCM),
        wire.activity_end(),
        wire.tool_response("fc-1", wire.PROBE_TOOL_NAME, {"status": "ok"}),
    ):
        check_client_frame(client(message))


def test_a_server_key_the_sdk_would_drop_or_refuse_fails() -> None:
    """The SDK's converter silently drops top-level keys it does not know (an app would never see them) and
    its models refuse unknown nested ones; both fail, as does a frame that is not JSON."""
    assert check_server_frame(server({"serverContent": {"turnComplete": True}})).server_content
    with pytest.raises(ConformanceError, match="drops"):
        check_server_frame(server({"serverContent": {"turnComplete": True}, "turnStatus": {}}))
    with pytest.raises(ConformanceError, match="refuses"):
        check_server_frame(server({"serverContent": {"turnComplete": True, "turnCompleted": True}}))
    with pytest.raises(ConformanceError, match="not JSON"):
        check_server_frame(Frame(Direction.SERVER, binary=True, data=b'{"setupComplete": {'))
