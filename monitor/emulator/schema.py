"""The known fields of every client message, as data, and the proto3-JSON reading the service applies.

The service parses client frames as proto3 JSON: each field may be spelled lowerCamelCase or snake_case, at
every level, and an unknown field is an error (`Invalid JSON payload received. Unknown name "f" at 'path':
Cannot find field.`, with the path in proto snake_case names). `normalise()` returns the message with every
known field in camelCase, so the conversation code reads one spelling.

The tree below follows google-genai 3.4.0's `_live_converters` (`*_to_mldev`) and the Live API reference.
A leaf is any JSON value; STRUCT is a free-form object (protobuf Struct/map) whose keys are not checked;
BYTES is a base64 string (the standard or the URL-safe alphabet, padded or not, as proto3 JSON reads it),
returned decoded; an Enum is read by value name or number and returned as the name. A bad value closes with
the parser's `Invalid value at '<path>' (<type>), "<value>"` wording (as the REST API words it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from monitor.emulator.reasons import invalid_value, unknown_field

__all__ = [
    "CLIENT_MESSAGE",
    "GEMINI_PACKAGE",
    "VERTEX_PACKAGE",
    "ClientMessageError",
    "Enum",
    "camel",
    "decode_base64",
    "normalise",
    "snake",
]

LEAF: Final = "leaf"
STRUCT: Final = "struct"
BYTES: Final = "bytes"
GEMINI_PACKAGE: Final = "google.ai.generativelanguage.v1beta"
VERTEX_PACKAGE: Final = "google.cloud.aiplatform.v1beta1"

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Enum:
    """A protobuf enum: its type name (relative to the API's package) and its values by number."""

    type_name: str
    values: tuple[str, ...]  # index = number

    def read(self, value: Any) -> str | int | None:
        """The value's name (numbers of known values become names; proto3 keeps unknown numbers)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return self.values[value] if 0 <= value < len(self.values) else value
        if isinstance(value, str) and value in self.values:
            return value
        return None


_MODALITY = Enum("GenerationConfig.Modality", ("MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO"))
_MEDIA_RESOLUTION = Enum(
    "GenerationConfig.MediaResolution",
    (
        "MEDIA_RESOLUTION_UNSPECIFIED",
        "MEDIA_RESOLUTION_LOW",
        "MEDIA_RESOLUTION_MEDIUM",
        "MEDIA_RESOLUTION_HIGH",
    ),
)
_THINKING_LEVEL = Enum(
    "ThinkingConfig.ThinkingLevel",
    ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"),
)
_START_SENSITIVITY = Enum(
    "AutomaticActivityDetection.StartSensitivity",
    ("START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"),
)
_END_SENSITIVITY = Enum(
    "AutomaticActivityDetection.EndSensitivity",
    ("END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"),
)
_ACTIVITY_HANDLING = Enum(
    "RealtimeInputConfig.ActivityHandling",
    ("ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"),
)
_TURN_COVERAGE = Enum(
    "RealtimeInputConfig.TurnCoverage",
    (
        "TURN_COVERAGE_UNSPECIFIED",
        "TURN_INCLUDES_ONLY_ACTIVITY",
        "TURN_INCLUDES_ALL_INPUT",
        "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    ),
)
_BEHAVIOR = Enum("FunctionDeclaration.Behavior", ("UNSPECIFIED", "BLOCKING", "NON_BLOCKING"))
_SCHEDULING = Enum(
    "FunctionResponse.Scheduling", ("SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT")
)

_BLOB: Schema = {"mimeType": LEAF, "data": BYTES, "displayName": LEAF}
_FUNCTION_CALL: Schema = {
    "id": LEAF,
    "name": LEAF,
    "args": STRUCT,
    "partialArgs": STRUCT,
    "willContinue": LEAF,
}
_FUNCTION_RESPONSE: Schema = {
    "id": LEAF,
    "name": LEAF,
    "response": STRUCT,
    "scheduling": _SCHEDULING,
    "willContinue": LEAF,
    "parts": STRUCT,
}
_PART: Schema = {
    "text": LEAF,
    "thought": LEAF,
    "thoughtSignature": BYTES,
    "inlineData": _BLOB,
    "fileData": {"mimeType": LEAF, "fileUri": LEAF, "displayName": LEAF},
    "functionCall": _FUNCTION_CALL,
    "functionResponse": _FUNCTION_RESPONSE,
    "executableCode": {"language": LEAF, "code": LEAF},
    "codeExecutionResult": {"outcome": LEAF, "output": LEAF},
    "videoMetadata": {"startOffset": LEAF, "endOffset": LEAF, "fps": LEAF},
    "mediaResolution": STRUCT,
}
_CONTENT: Schema = {"role": LEAF, "parts": [_PART]}
_TOOL: Schema = {
    "functionDeclarations": [
        {
            "name": LEAF,
            "description": LEAF,
            "behavior": _BEHAVIOR,
            "parameters": STRUCT,
            "parametersJsonSchema": STRUCT,
            "response": STRUCT,
            "responseJsonSchema": STRUCT,
        }
    ],
    "googleSearch": STRUCT,
    "googleSearchRetrieval": STRUCT,
    "codeExecution": STRUCT,
    "urlContext": STRUCT,
    "computerUse": STRUCT,
    "fileSearch": STRUCT,
    "googleMaps": STRUCT,
    "mcpServers": STRUCT,
}
_GENERATION_CONFIG: Schema = {
    "responseModalities": [_MODALITY],
    "temperature": LEAF,
    "topP": LEAF,
    "topK": LEAF,
    "maxOutputTokens": LEAF,
    "seed": LEAF,
    "candidateCount": LEAF,
    "presencePenalty": LEAF,
    "frequencyPenalty": LEAF,
    "stopSequences": LEAF,
    "responseLogprobs": LEAF,
    "logprobs": LEAF,
    "mediaResolution": _MEDIA_RESOLUTION,
    "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": LEAF}, "replicatedVoiceConfig": STRUCT},
        "languageCode": LEAF,
        "multiSpeakerVoiceConfig": STRUCT,
    },
    "thinkingConfig": {"thinkingBudget": LEAF, "includeThoughts": LEAF, "thinkingLevel": _THINKING_LEVEL},
    "enableAffectiveDialog": LEAF,
    "translationConfig": STRUCT,
}
_SETUP: Schema = {
    "model": LEAF,
    "generationConfig": _GENERATION_CONFIG,
    "systemInstruction": _CONTENT,
    "tools": [_TOOL],
    "sessionResumption": {"handle": LEAF, "transparent": LEAF},
    "contextWindowCompression": {"triggerTokens": LEAF, "slidingWindow": {"targetTokens": LEAF}},
    "realtimeInputConfig": {
        "automaticActivityDetection": {
            "disabled": LEAF,
            "startOfSpeechSensitivity": _START_SENSITIVITY,
            "endOfSpeechSensitivity": _END_SENSITIVITY,
            "prefixPaddingMs": LEAF,
            "silenceDurationMs": LEAF,
        },
        "activityHandling": _ACTIVITY_HANDLING,
        "turnCoverage": _TURN_COVERAGE,
    },
    "inputAudioTranscription": {"languageCodes": LEAF},
    "outputAudioTranscription": {"languageCodes": LEAF},
    "proactivity": {"proactiveAudio": LEAF},
    "historyConfig": {"initialHistoryInClientContent": LEAF},
    "explicitVadSignal": LEAF,
    "safetySettings": STRUCT,
    "avatarConfig": STRUCT,
    "labels": STRUCT,
}
CLIENT_MESSAGE: Schema = {
    "setup": _SETUP,
    "clientContent": {"turns": [_CONTENT], "turnComplete": LEAF},
    "realtimeInput": {
        "mediaChunks": [_BLOB],
        "audio": _BLOB,
        "video": _BLOB,
        "text": LEAF,
        "activityStart": {},
        "activityEnd": {},
        "audioStreamEnd": LEAF,
    },
    "toolResponse": {"functionResponses": [_FUNCTION_RESPONSE]},
    "contextUpdate": {"systemInstruction": _CONTENT, "tools": {"tools": [_TOOL]}},
}


class ClientMessageError(ValueError):
    """A client frame the service would refuse; `reason` is the 1007 close reason it would send."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_UPPER = re.compile(r"[A-Z]")
_UNDERSCORE = re.compile(r"_([a-z0-9])")


def snake(name: str) -> str:
    return _UPPER.sub(lambda m: "_" + m.group(0).lower(), name)


def camel(name: str) -> str:
    return _UNDERSCORE.sub(lambda m: m.group(1).upper(), name)


def decode_base64(text: str) -> bytes | None:
    """proto3 JSON bytes: the standard or the URL-safe alphabet, padded or not; None when it is not base64."""
    unified = text.replace("-", "+").replace("_", "/")
    body = unified.rstrip("=")
    padding = len(unified) - len(body)
    if padding > 2 or (padding and len(unified) % 4) or len(body) % 4 == 1 or not _BASE64.fullmatch(body):
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


_BASE64 = re.compile(r"[A-Za-z0-9+/]*")


def normalise(message: Any, *, package: str = GEMINI_PACKAGE) -> dict[str, Any]:
    """The message with known fields in camelCase, bytes decoded and enums as names; raises
    ClientMessageError for what the service refuses. `package` names enum types in error reasons."""
    if not isinstance(message, dict):
        raise ClientMessageError("Invalid JSON payload received. Expected an object.")
    result = _Reader(package).message(message, CLIENT_MESSAGE, "")
    if len(result) != 1:
        # proto3 JSON: the message_type oneof may be set once (wording inferred from the protobuf parser).
        if not result:
            raise ClientMessageError("Request contains an invalid argument.")
        second = snake(list(result)[1])
        raise ClientMessageError(
            f"Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set '{second}'"
        )
    return result


@dataclass(frozen=True, slots=True)
class _Reader:
    package: str

    def message(self, value: Any, schema: Schema, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ClientMessageError("Request contains an invalid argument.")
        result: dict[str, Any] = {}
        for name, field_value in value.items():
            key = camel(name)
            if key not in schema:
                raise ClientMessageError(unknown_field(name, path))
            if field_value is None:
                continue  # proto3 JSON: null is the field's default, i.e. not set
            child_path = f"{path}.{snake(key)}" if path else snake(key)
            result[key] = self.value(field_value, schema[key], child_path)
        return result

    def value(self, value: Any, spec: Any, path: str) -> Any:
        if spec in (LEAF, STRUCT):
            return value
        if spec == BYTES:
            decoded = decode_base64(value) if isinstance(value, str) else None
            if decoded is None:
                raise ClientMessageError(
                    invalid_value(path, "TYPE_BYTES", f"Base64 decoding failed for {_quoted(value)}")
                )
            return decoded
        if isinstance(spec, Enum):
            name = spec.read(value)
            if name is None:
                raise ClientMessageError(
                    invalid_value(
                        path, f"type.googleapis.com/{self.package}.{spec.type_name}", _quoted(value)
                    )
                )
            return name
        if isinstance(spec, list):
            if not isinstance(value, list):
                raise ClientMessageError("Request contains an invalid argument.")
            return [self.value(item, spec[0], f"{path}[{index}]") for index, item in enumerate(value)]
        return self.message(value, spec, path)


def _quoted(value: Any) -> str:
    """The offending value as the parser quotes it (JSON text; the close reason is cut at 123 bytes)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return '"' + text[:200] + '"'
