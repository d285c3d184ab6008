"""The known fields of every client message, as data, and the proto3-JSON reading the service applies.

The service parses client frames as proto3 JSON: each field may be spelled lowerCamelCase or snake_case, at
every level, and an unknown field is an error (`Invalid JSON payload received. Unknown name "f" at 'path':
Cannot find field.`, with the path in proto snake_case names). `normalise()` returns the message with every
known field in camelCase, so the conversation code reads one spelling.

The tree below follows google-genai 3.4.0's `_live_converters` (`*_to_mldev`) and docs/protocol.md section 2.
A leaf is any JSON value; STRUCT is a free-form object (protobuf Struct/map) whose keys are not checked.
"""

from __future__ import annotations

import re
from typing import Any, Final

from monitor.emulator.reasons import unknown_field

__all__ = ["CLIENT_MESSAGE", "ClientMessageError", "camel", "normalise", "snake"]

LEAF: Final = "leaf"
STRUCT: Final = "struct"

Schema = dict[str, Any]

_BLOB: Schema = {"mimeType": LEAF, "data": LEAF, "displayName": LEAF}
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
    "scheduling": LEAF,
    "willContinue": LEAF,
    "parts": STRUCT,
}
_PART: Schema = {
    "text": LEAF,
    "thought": LEAF,
    "thoughtSignature": LEAF,
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
            "behavior": LEAF,
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
    "responseModalities": LEAF,
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
    "mediaResolution": LEAF,
    "speechConfig": {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": LEAF}, "replicatedVoiceConfig": STRUCT},
        "languageCode": LEAF,
        "multiSpeakerVoiceConfig": STRUCT,
    },
    "thinkingConfig": {"thinkingBudget": LEAF, "includeThoughts": LEAF, "thinkingLevel": LEAF},
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
            "startOfSpeechSensitivity": LEAF,
            "endOfSpeechSensitivity": LEAF,
            "prefixPaddingMs": LEAF,
            "silenceDurationMs": LEAF,
        },
        "activityHandling": LEAF,
        "turnCoverage": LEAF,
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


def normalise(message: Any) -> dict[str, Any]:
    """The message with known fields in camelCase; raises ClientMessageError for what the service refuses."""
    if not isinstance(message, dict):
        raise ClientMessageError("Invalid JSON payload received. Expected an object.")
    result = _normalise_message(message, CLIENT_MESSAGE, "")
    if len(result) != 1:
        # proto3 JSON: the message_type oneof may be set once (wording inferred from the protobuf parser).
        if not result:
            raise ClientMessageError("Request contains an invalid argument.")
        second = snake(list(result)[1])
        raise ClientMessageError(
            f"Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set '{second}'"
        )
    return result


def _normalise_message(value: Any, schema: Schema, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ClientMessageError("Request contains an invalid argument.")
    result: dict[str, Any] = {}
    for name, field_value in value.items():
        key = camel(name)
        if key not in schema:
            raise ClientMessageError(unknown_field(name, path))
        child_path = f"{path}.{snake(key)}" if path else snake(key)
        result[key] = _normalise_value(field_value, schema[key], child_path)
    return result


def _normalise_value(value: Any, spec: Any, path: str) -> Any:
    if spec in (LEAF, STRUCT) or value is None:
        return value
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise ClientMessageError("Request contains an invalid argument.")
        return [_normalise_message(item, spec[0], f"{path}[{index}]") for index, item in enumerate(value)]
    return _normalise_message(value, spec, path)
