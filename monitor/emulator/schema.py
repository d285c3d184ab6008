"""The known fields of every client message, as data, and the proto3-JSON reading the service applies.

The service parses client frames as proto3 JSON: each field may be spelled lowerCamelCase or snake_case, at
every level, and an unknown field is an error (`Invalid JSON payload received. Unknown name "f" at 'path':
Cannot find field.`, with the path in proto snake_case names). `normalise()` returns the message with every
known field in camelCase, so the conversation code reads one spelling.

The tree below follows google-genai 3.4.0's `_live_converters` (`*_to_mldev`) and the Live API reference.
LEAF is any JSON value; STRUCT is a free-form object (protobuf Struct/map) whose keys are not checked;
typed scalars, BYTES and enums are read as `proto3.py` says. A bad value closes with the parser's
`Invalid value at '<path>' (<type>), "<value>"` wording (as the REST API words it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from monitor.emulator.proto3 import BOOL, BYTES, FLOAT, INT, STRING, Enum, decode_base64, quoted, read_scalar
from monitor.emulator.reasons import invalid_value, unknown_field

__all__ = [
    "CLIENT_MESSAGE",
    "GEMINI_PACKAGE",
    "VERTEX_PACKAGE",
    "ClientMessageError",
    "camel",
    "normalise",
    "snake",
]

LEAF: Final = "leaf"
STRUCT: Final = "struct"
GEMINI_PACKAGE: Final = "google.ai.generativelanguage.v1beta"
VERTEX_PACKAGE: Final = "google.cloud.aiplatform.v1beta1"

Schema = dict[str, Any]


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

_BLOB: Schema = {"mimeType": STRING, "data": BYTES, "displayName": STRING}
_FUNCTION_CALL: Schema = {
    "id": STRING,
    "name": STRING,
    "args": STRUCT,
    "partialArgs": STRUCT,
    "willContinue": BOOL,
}
_FUNCTION_RESPONSE: Schema = {
    "id": STRING,
    "name": STRING,
    "response": STRUCT,
    "scheduling": _SCHEDULING,
    "willContinue": BOOL,
    "parts": STRUCT,
}
_PART: Schema = {
    "text": STRING,
    "thought": BOOL,
    "thoughtSignature": BYTES,
    "inlineData": _BLOB,
    "fileData": {"mimeType": STRING, "fileUri": STRING, "displayName": STRING},
    "functionCall": _FUNCTION_CALL,
    "functionResponse": _FUNCTION_RESPONSE,
    "executableCode": {"language": LEAF, "code": STRING},
    "codeExecutionResult": {"outcome": LEAF, "output": STRING},
    "videoMetadata": {"startOffset": LEAF, "endOffset": LEAF, "fps": FLOAT},
    "mediaResolution": STRUCT,
}
_CONTENT: Schema = {"role": STRING, "parts": [_PART]}
_TOOL: Schema = {
    "functionDeclarations": [
        {
            "name": STRING,
            "description": STRING,
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
    "temperature": FLOAT,
    "topP": FLOAT,
    "topK": FLOAT,
    "maxOutputTokens": INT,
    "seed": INT,
    "candidateCount": INT,
    "presencePenalty": FLOAT,
    "frequencyPenalty": FLOAT,
    "stopSequences": [STRING],
    "responseLogprobs": BOOL,
    "logprobs": INT,
    "mediaResolution": _MEDIA_RESOLUTION,
    "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": STRING}, "replicatedVoiceConfig": STRUCT},
        "languageCode": STRING,
        "multiSpeakerVoiceConfig": STRUCT,
    },
    "thinkingConfig": {"thinkingBudget": INT, "includeThoughts": BOOL, "thinkingLevel": _THINKING_LEVEL},
    "enableAffectiveDialog": BOOL,
    "translationConfig": STRUCT,
}
_SETUP: Schema = {
    "model": STRING,
    "generationConfig": _GENERATION_CONFIG,
    "systemInstruction": _CONTENT,
    "tools": [_TOOL],
    "sessionResumption": {"handle": STRING, "transparent": BOOL},
    "contextWindowCompression": {"triggerTokens": INT, "slidingWindow": {"targetTokens": INT}},
    "realtimeInputConfig": {
        "automaticActivityDetection": {
            "disabled": BOOL,
            "startOfSpeechSensitivity": _START_SENSITIVITY,
            "endOfSpeechSensitivity": _END_SENSITIVITY,
            "prefixPaddingMs": INT,
            "silenceDurationMs": INT,
        },
        "activityHandling": _ACTIVITY_HANDLING,
        "turnCoverage": _TURN_COVERAGE,
    },
    "inputAudioTranscription": {"languageCodes": [STRING]},
    "outputAudioTranscription": {"languageCodes": [STRING]},
    "proactivity": {"proactiveAudio": BOOL},
    "historyConfig": {"initialHistoryInClientContent": BOOL},
    "explicitVadSignal": BOOL,
    "safetySettings": STRUCT,
    "avatarConfig": STRUCT,
    "labels": STRUCT,
}
CLIENT_MESSAGE: Schema = {
    "setup": _SETUP,
    "clientContent": {"turns": [_CONTENT], "turnComplete": BOOL},
    "realtimeInput": {
        "mediaChunks": [_BLOB],
        "audio": _BLOB,
        "video": _BLOB,
        "text": STRING,
        "activityStart": {},
        "activityEnd": {},
        "audioStreamEnd": BOOL,
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
        if spec in (STRING, BOOL, INT, FLOAT):
            read = read_scalar(spec, value)
            if read is None:
                raise ClientMessageError(invalid_value(path, spec, quoted(value)))
            return read
        if spec == BYTES:
            decoded = decode_base64(value) if isinstance(value, str) else None
            if decoded is None:
                raise ClientMessageError(
                    invalid_value(path, "TYPE_BYTES", f"Base64 decoding failed for {quoted(value)}")
                )
            return decoded
        if isinstance(spec, Enum):
            name = spec.read(value)
            if name is None:
                raise ClientMessageError(
                    invalid_value(path, f"type.googleapis.com/{self.package}.{spec.type_name}", quoted(value))
                )
            return name
        if isinstance(spec, list):
            if not isinstance(value, list):
                raise ClientMessageError("Request contains an invalid argument.")
            return [self.value(item, spec[0], f"{path}[{index}]") for index, item in enumerate(value)]
        return self.message(value, spec, path)
