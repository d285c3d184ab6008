"""Pure wire rules: URL paths, credentials, the proto3-JSON schema reading, close-reason truncation."""

from __future__ import annotations

import pytest

from monitor.emulator.paths import Api, CredentialKind, extract_credential, match_endpoint
from monitor.emulator.reasons import model_not_found, truncate_reason
from monitor.emulator.schema import ClientMessageError, normalise

GEMINI = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"


@pytest.mark.parametrize(
    ("path", "api", "version", "constrained"),
    [
        (
            "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
            Api.GEMINI,
            "v1beta",
            False,
        ),
        (
            "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
            Api.GEMINI,
            "v1",
            False,
        ),
        (
            "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained",
            Api.GEMINI,
            "v1alpha",
            True,
        ),
        (
            "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
            Api.VERTEX,
            "v1beta1",
            False,
        ),
    ],
)
def test_paths(path: str, api: Api, version: str, constrained: bool) -> None:
    endpoint = match_endpoint(path)
    assert endpoint is not None
    assert (endpoint.api, endpoint.version, endpoint.constrained) == (api, version, constrained)


@pytest.mark.parametrize(
    "path",
    [
        "/ws/google.cloud.aiplatform.v1.LlmBidiService.BidiGenerateContent",  # Vertex uses a slash
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService/BidiGenerateContent",  # Gemini a dot
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContentConstrained",
    ],
)
def test_wrong_separators_and_versions(path: str) -> None:
    assert match_endpoint(path) is None


def test_credential_order_and_redaction() -> None:
    credential = extract_credential({"x-goog-api-key": "secret-1"}, {"key": "secret-2"})
    assert (credential.kind, credential.value) == (CredentialKind.HEADER, "secret-1")
    assert "secret" not in repr(credential)
    assert extract_credential({"Authorization": "Bearer   "}, {}).kind is CredentialKind.NONE


def test_normalise_reads_both_spellings() -> None:
    message = normalise({"realtime_input": {"audio": {"mime_type": "audio/pcm", "data": "AA=="}}})
    assert message == {"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": b"\x00"}}}


def test_struct_fields_are_not_checked() -> None:
    """Function args and responses are free-form JSON (protobuf Struct)."""
    body = {"toolResponse": {"functionResponses": [{"id": "1", "response": {"any_thing": {"deep": 1}}}]}}
    assert normalise(body)["toolResponse"]["functionResponses"][0]["response"] == {"any_thing": {"deep": 1}}


def test_unknown_field_path_uses_proto_names() -> None:
    with pytest.raises(ClientMessageError) as caught:
        normalise({"setup": {"generationConfig": {"speechConfig": {"voiceConfig": {"voice": "Puck"}}}}})
    assert caught.value.reason == (
        'Invalid JSON payload received. Unknown name "voice" at '
        "'setup.generation_config.speech_config.voice_config': Cannot find field."
    )


def test_truncation_never_splits_a_character() -> None:
    assert truncate_reason("x" * 200) == "x" * 123
    cut = truncate_reason("é" * 100)  # 2 bytes each: 61 whole characters fit in 123 bytes
    assert cut == "é" * 61
    assert truncate_reason("short") == "short"


def test_model_not_found_matches_the_observed_123_bytes() -> None:
    observed = (
        "models/gemini-2.0-flash-live-001 is not found for API version v1alpha, or is not supported for "
        "bidiGenerateContent. Call Li"
    )
    assert truncate_reason(model_not_found("gemini-2.0-flash-live-001", "v1alpha")) == observed
