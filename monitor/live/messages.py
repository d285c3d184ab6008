"""Live API messages: build the client messages the probe sends, parse server frames into typed values.

Client messages are written in lowerCamelCase proto3-JSON (what the API reference documents). Server frames
arrive as binary (UTF-8 JSON, what the real service sends) or text frames, with camelCase or snake_case keys
at any level; both are accepted. A frame that is not a JSON object, carries none of the known server messages,
or has a known message of the wrong shape raises `ProtocolError` (it becomes the `protocol_error` outcome).

Audio is decoded from base64 as its frame is parsed. On the streamed path msgspec reads the base64 string
straight into bytes, which costs what reading it as text did (about 18 us for a 9 kB audio frame either way),
so the timed receive path does no more work than before; the marks themselves are taken at the socket, before
any frame is parsed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from monitor.live import bounds
from monitor.live.duration import parse_duration
from monitor.live.errors import ProtocolError

__all__ = [
    "INPUT_AUDIO_MIME",
    "MAX_FUNCTION_CALLS",
    "PROBE_TOOL_NAME",
    "AudioChunk",
    "FunctionCall",
    "ServerContent",
    "ServerMessage",
    "Usage",
    "activity_end",
    "activity_start",
    "audio_chunk",
    "client_content_text",
    "default_setup_payload",
    "default_setup_view",
    "model_resource",
    "parse_server_frame",
    "realtime_text",
    "setup_message",
    "tool_response",
]

INPUT_AUDIO_MIME: Final = "audio/pcm;rate=16000"
PROBE_TOOL_NAME: Final = "get_probe_status"

_SYSTEM_INSTRUCTION: Final = (
    "You are the voice of a synthetic monitor. Answer every question in one short spoken sentence. "
    f"When asked for the probe status, call the {PROBE_TOOL_NAME} function and read its result aloud."
)

# Incident 000's production payload (minus the model), with `sessionResumption: {}` for a new session:
# `{"handle": null}` was reported rejected by gemini-3.1-flash-live-preview (strands-agents/harness-sdk#1999;
# docs/protocol.md, "`setup`").
_DEFAULT_SETUP: Final[Mapping[str, Any]] = {
    "generationConfig": {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
        "thinkingConfig": {"thinkingBudget": 0},
    },
    "contextWindowCompression": {"triggerTokens": 25000, "slidingWindow": {"targetTokens": 12500}},
    "sessionResumption": {},
    "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
    "systemInstruction": {"parts": [{"text": _SYSTEM_INSTRUCTION}]},
    "tools": [
        {
            "functionDeclarations": [
                # No `parameters`: the Gemini API rejects an OBJECT schema with empty `properties`.
                {
                    "name": PROBE_TOOL_NAME,
                    "description": "Returns the current status of the synthetic monitor probe.",
                }
            ]
        }
    ],
    "inputAudioTranscription": {},
    "outputAudioTranscription": {},
}

# Top-level server message keys (google-genai's LiveServerMessage; docs/protocol.md, "Server → client
# messages"); a frame must carry at least one of them.
_SERVER_KEYS: Final = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "usageMetadata",
        "goAway",
        "sessionResumptionUpdate",
        "voiceActivityDetectionSignal",
        "voiceActivity",
    }
)
# serverContent fields reported in the wire pattern, in this order.
_CONTENT_KINDS: Final = (
    "modelTurn",
    "inputTranscription",
    "outputTranscription",
    "generationComplete",
    "turnComplete",
    "interrupted",
)
_CONTENT_KIND_NAMES: Final = {kind: f"serverContent.{kind}" for kind in _CONTENT_KINDS}
# Bounds on a decoded frame (ProbeLimits.json_depth / integer_digits carry the configured values).
DEFAULT_JSON_DEPTH: Final = 64
DEFAULT_INTEGER_DIGITS: Final = 18
_DECODER: Final = msgspec.json.Decoder()
# Function calls answered per toolCall frame: a model calls a few tools at once; each call costs a send.
MAX_FUNCTION_CALLS: Final = 64
# JSON objects and arrays in one frame (a real one has under 20).
_MAX_CONTAINERS: Final = 4 * bounds.MAX_ARRAY_ENTRIES
_MIME_CHARS: Final = 100  # "audio/pcm;rate=24000" is 20; a MIME type this long is not one


# Per-model rules for the default payload only (a user's payload is theirs), from the model pages on
# ai.google.dev (gemini-3.8-live migration notes): gemini-3.8-live refuses `thinkingConfig`, keeps proactive
# audio always on (an explicit `proactiveAudio: false` is an error, so the probe sends no `proactivity`), and
# runs function calls NON_BLOCKING unless a declaration says otherwise. The probe declares its function
# BLOCKING there, so a tool turn is toolCall -> toolResponse -> spoken answer on every model and its latency
# compares across the line-up (Pipecat's GeminiLiveLLMService does the same for synchronous tools).
# gemini-3.1-flash-live-preview does not support async function calls: it gets no `behavior` at all.
_NO_THINKING_CONFIG: Final = ("gemini-3.8-live",)
_NON_BLOCKING_BY_DEFAULT: Final = ("gemini-3.8-live",)


def default_setup_payload(model: str = "") -> dict[str, Any]:
    """A fresh copy of the default setup payload (inner object of `{"setup": ...}`) for `model`."""
    payload = copy.deepcopy(dict(_DEFAULT_SETUP))
    model_id = model.rsplit("/", 1)[-1]
    if model_id.startswith(_NO_THINKING_CONFIG):
        payload["generationConfig"].pop("thinkingConfig", None)
    if model_id.startswith(_NON_BLOCKING_BY_DEFAULT):
        for tool in payload["tools"]:
            for declaration in tool.get("functionDeclarations", []):
                declaration["behavior"] = "BLOCKING"
    return payload


@functools.lru_cache(maxsize=256)
def default_setup_view(model: str = "") -> Mapping[str, Any]:
    """The default payload for `model`, built once and shared: read it, never change it (copy it for that)."""
    return default_setup_payload(model)


def model_resource(model: str, url: str) -> str:
    """The `setup.model` value: `models/<id>` on the Gemini API, the full resource name on Vertex AI."""
    if "LlmBidiService" in url:
        # "publishers/..." alone is what the SDK sends in express mode (Vertex AI with an API key).
        if not model.startswith(("projects/", "publishers/")):
            raise ValueError(
                "model: Vertex AI needs the full resource name "
                f"'projects/<project>/locations/<location>/publishers/google/models/<id>', got {model!r}"
            )
        return model
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def setup_message(
    model: str, payload: Mapping[str, Any] | None = None, *, handle: str | None = None
) -> dict[str, Any]:
    """`{"setup": ...}`: the user's payload unchanged except the model (and the handle when resuming)."""
    # A shallow copy: only top-level keys change below, and the message is serialised, never mutated (a deep
    # copy of the payload per session was the probe's largest cost after the socket).
    body = dict(payload if payload is not None else default_setup_view(model))
    body.pop("model", None)
    if handle:
        body.pop("session_resumption", None)
        body["sessionResumption"] = {"handle": handle}
    return {"setup": {"model": model, **body}}


def client_content_text(text: str) -> dict[str, Any]:
    return {"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}}


def realtime_text(text: str) -> dict[str, Any]:
    return {"realtimeInput": {"text": text}}


def activity_start() -> dict[str, Any]:
    return {"realtimeInput": {"activityStart": {}}}


def activity_end() -> dict[str, Any]:
    return {"realtimeInput": {"activityEnd": {}}}


def audio_chunk(pcm: bytes) -> dict[str, Any]:
    """One chunk of 16 kHz s16le mono input audio."""
    data = base64.b64encode(pcm).decode("ascii")
    return {"realtimeInput": {"audio": {"mimeType": INPUT_AUDIO_MIME, "data": data}}}


def tool_response(call_id: str, name: str, response: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to one function call; the id is mandatory on the Gemini API."""
    answer = {"id": call_id, "name": name, "response": dict(response)}
    return {"toolResponse": {"functionResponses": [answer]}}


# The value types below are built for every frame a turn receives, on the receive path: frozen msgspec Structs
# (built in C, about 0.1 us each) rather than frozen dataclasses (about 1.3 us for seven fields), otherwise
# the same immutable values with equality and a readable repr.
class AudioChunk(msgspec.Struct, frozen=True):
    mime_type: str
    # `data` decoded from base64 as the frame is parsed (msgspec decodes it for the cost of reading the JSON
    # string); None when it is not strict standard base64, which the audio check reports after the turn.
    pcm: bytes | None


class ServerContent(msgspec.Struct, frozen=True):
    audio: tuple[AudioChunk, ...] = ()
    text: str = ""  # modelTurn text parts (TEXT modality)
    output_transcript: str = ""
    input_transcript: str = ""
    generation_complete: bool = False
    turn_complete: bool = False
    interrupted: bool = False


class FunctionCall(msgspec.Struct, frozen=True):
    id: str
    name: str
    args: Mapping[str, Any]


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int | None
    response_tokens: int | None


class ServerMessage(msgspec.Struct, frozen=True):
    """One server frame. `kinds` is its entry in the wire pattern (e.g. `serverContent.modelTurn`)."""

    kinds: tuple[str, ...]
    setup_complete: bool = False
    content: ServerContent | None = None
    function_calls: tuple[FunctionCall, ...] = ()
    go_away_seconds: float | None = None
    new_handle: str = ""  # non-empty only when the update carries a usable handle
    usage: Usage | None = None


def parse_server_frame(
    data: bytes | str, *, depth: int = DEFAULT_JSON_DEPTH, integer_digits: int = DEFAULT_INTEGER_DIGITS
) -> ServerMessage:
    """Parse one server frame (binary or text); ProtocolError when it is not a valid server message.

    `depth` and `integer_digits` bound the decoded value (`bounds.normalise`): deeper nesting, longer
    integers and non-finite numbers are protocol errors naming the limit. Unknown keys are recorded under
    `bounds.kind_name`, at most `bounds.MAX_UNKNOWN_KINDS` per frame and the rest counted in one entry.
    """
    if depth >= _STREAMED_DEPTH:
        streamed = _streamed(data)
        if streamed is not None:
            return streamed
    return _parse(data, depth=depth, integer_digits=integer_digits)


def _parse(data: bytes | str, *, depth: int, integer_digits: int) -> ServerMessage:
    """The general path: any frame, any key spelling, every bound checked."""
    # Before decoding, which would build every object: a frame of a million `{}` costs a second of CPU
    # to decode alone. A bracket in a string counts too; no real frame holds thousands (base64 has none).
    if isinstance(data, bytes):
        containers = data.count(b"{") + data.count(b"[")
    else:
        containers = data.count("{") + data.count("[")
    if containers > _MAX_CONTAINERS:
        raise ProtocolError(f"frame of {containers} JSON objects and arrays, more than {_MAX_CONTAINERS}")
    try:
        decoded = _decode(data)
    except RecursionError:
        # Nesting deeper than the decoder recurses (100k levels): refused before `normalise` sees it.
        raise ProtocolError(f"frame nested deeper than limits.json_depth {depth}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        # e.g. an integer literal past Python's 4300-digit conversion limit: say so, bounded and safe.
        reason = bounds.safe_text(str(exc), 120)
        raise ProtocolError(f"server frame is not JSON: {type(exc).__name__}: {reason}") from None
    if not isinstance(decoded, dict):
        raise ProtocolError(f"server frame is JSON {type(decoded).__name__}, not an object")
    frame = bounds.normalise(decoded, depth=depth, integer_digits=integer_digits)
    return _message(frame)


def _message(frame: Mapping[str, Any]) -> ServerMessage:
    kinds: list[str] = []
    unknown = 0
    content: dict[str, Any] | None = None
    for key in frame:
        if key == "serverContent":
            content = _object(frame, key)
            kinds.extend(_content_kinds(content))
        elif key in _SERVER_KEYS:
            kinds.append(key)
        else:
            unknown += 1
            if unknown <= bounds.MAX_UNKNOWN_KINDS:
                kinds.append(bounds.kind_name(key))
    if unknown == len(frame):
        names = [bounds.kind_name(key) for key in list(frame)[: bounds.MAX_UNKNOWN_KINDS]]
        raise ProtocolError(f"server frame has no known message: keys {names} of {len(frame)}")
    if unknown > bounds.MAX_UNKNOWN_KINDS:
        kinds.append(f"more_keys~{unknown - bounds.MAX_UNKNOWN_KINDS}")
    return ServerMessage(
        kinds=tuple(kinds),
        setup_complete="setupComplete" in frame,
        content=None if content is None else _content(content),
        function_calls=_function_calls(frame) if "toolCall" in frame else (),
        go_away_seconds=_go_away(frame),
        new_handle=_new_handle(frame) if "sessionResumptionUpdate" in frame else "",
        usage=_usage(frame),
    )


# The frames that make up almost every turn (audio chunks, transcriptions, generationComplete, turnComplete)
# decoded straight into these types: no dict per level, no walk, no re-keying. Only the exact camelCase shape
# with nothing else in it is taken (any other key, a null, a wrong type or a long MIME type fails the decode),
# and a frame that fails is parsed by the general path, so both give the same message for every frame
# (tests/unit/live/test_streamed_frames.py checks that with generated frames). Its nesting is at most
# `_STREAMED_DEPTH` and it holds no number, so the bounds the general path enforces cannot be exceeded.
class _Blob(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    mime_type: str | msgspec.UnsetType = msgspec.UNSET
    data: bytes | msgspec.UnsetType = msgspec.UNSET  # base64 that msgspec refuses fails the decode


class _Part(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    inline_data: _Blob | msgspec.UnsetType = msgspec.UNSET
    text: str = ""


class _Turn(msgspec.Struct, forbid_unknown_fields=True):
    role: str | msgspec.UnsetType = msgspec.UNSET
    parts: list[_Part] | msgspec.UnsetType = msgspec.UNSET


class _Transcription(msgspec.Struct, forbid_unknown_fields=True):
    text: str | msgspec.UnsetType = msgspec.UNSET


class _Content(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    model_turn: _Turn | msgspec.UnsetType = msgspec.UNSET
    input_transcription: _Transcription | msgspec.UnsetType = msgspec.UNSET
    output_transcription: _Transcription | msgspec.UnsetType = msgspec.UNSET
    generation_complete: bool = False
    turn_complete: bool = False
    interrupted: bool = False


class _Streamed(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    server_content: _Content


_STREAMED: Final = msgspec.json.Decoder(_Streamed)
_STREAMED_DEPTH: Final = 6  # frame > serverContent > modelTurn > parts > part > inlineData


def _streamed(data: bytes | str) -> ServerMessage | None:
    """The message of a frame of the streamed shape, None for any other frame (the general path's)."""
    try:
        content = _STREAMED.decode(data).server_content
    except msgspec.DecodeError:
        return None
    turn, said, heard = content.model_turn, content.output_transcription, content.input_transcription
    audio: list[AudioChunk] = []
    text: list[str] = []
    if turn and turn.parts:
        if len(turn.parts) > bounds.MAX_ARRAY_ENTRIES:
            return None  # the general path names the limit
        for part in turn.parts:
            blob = part.inline_data
            if blob is not msgspec.UNSET:
                mime_type = blob.mime_type or ""
                if len(mime_type) > _MIME_CHARS:
                    return None  # the general path names the problem
                audio.append(AudioChunk(mime_type=mime_type, pcm=blob.data or b""))
            text.append(part.text)
    present = (
        turn is not msgspec.UNSET and (turn.role is not msgspec.UNSET or turn.parts is not msgspec.UNSET),
        heard is not msgspec.UNSET and heard.text is not msgspec.UNSET,
        said is not msgspec.UNSET and said.text is not msgspec.UNSET,
        content.generation_complete,
        content.turn_complete,
        content.interrupted,
    )
    kinds = tuple(_CONTENT_KIND_NAMES[k] for k, there in zip(_CONTENT_KINDS, present, strict=True) if there)
    return ServerMessage(
        kinds=kinds or ("serverContent",),
        content=ServerContent(
            audio=tuple(audio),
            text="".join(text),
            output_transcript=said.text or "" if said else "",
            input_transcript=heard.text or "" if heard else "",
            generation_complete=content.generation_complete,
            turn_complete=content.turn_complete,
            interrupted=content.interrupted,
        ),
    )


def _object(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{key} is {type(value).__name__}, expected an object")
    return value


def _list(parent: Mapping[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"{key} is {type(value).__name__}, expected a list")
    return value


def _string(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"{key} is {type(value).__name__}, expected a string")
    return value


def _decode(data: bytes | str) -> Any:
    """The frame's JSON value: msgspec (about 4x json.loads on a 4 kB audio frame, the probe's hottest call);
    what msgspec refuses (a lone surrogate, a number past its range) is decoded again by `json`, whose result
    and errors the limits in `bounds` judge, so hostile input is classified exactly as before."""
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError:
        # json.loads(bytes) would guess UTF-16 or UTF-32 and skip a BOM; a frame is UTF-8 JSON, nothing else
        # (strict decoding: a UnicodeDecodeError is a protocol error for the caller).
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


_BASE64: Final = msgspec.json.Decoder(bytes)


def _base64(text: str) -> bytes | None:
    """Strict standard base64 (what `base64.b64decode(text, validate=True)` accepts), None for anything else;
    about twice as fast as `base64`: msgspec's decoder reads a JSON string as bytes. A quote or backslash is
    never base64, and refused before the text is wrapped as a JSON string (where it would be an escape)."""
    if '"' in text or "\\" in text:
        return None
    try:
        return _BASE64.decode(f'"{text}"'.encode())
    except msgspec.DecodeError:
        pass  # invalid base64, a control character, or a form msgspec refuses but base64 allows ("0000=")
    # A refusal is rare for a real server's audio: the strict decoder gives the final verdict then.
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _content_kinds(content: Mapping[str, Any]) -> list[str]:
    kinds = [_CONTENT_KIND_NAMES[k] for k in _CONTENT_KINDS if content.get(k)]
    return kinds or ["serverContent"]


def _content(content: Mapping[str, Any]) -> ServerContent:
    audio: list[AudioChunk] = []
    text: list[str] = []
    for part in _list(_object(content, "modelTurn"), "parts"):
        if not isinstance(part, dict):
            raise ProtocolError("modelTurn.parts[] entry is not an object")
        if "inlineData" in part:
            blob = _object(part, "inlineData")
            mime_type = _string(blob, "mimeType")
            if len(mime_type) > _MIME_CHARS:  # e.g. a 5000-digit sample rate: malformed, not just wrong
                raise ProtocolError(
                    f"inlineData.mimeType of {len(mime_type)} characters (at most {_MIME_CHARS})"
                )
            audio.append(AudioChunk(mime_type=mime_type, pcm=_base64(_string(blob, "data"))))
        text.append(_string(part, "text"))
    return ServerContent(
        audio=tuple(audio),
        text="".join(text),
        output_transcript=_string(_object(content, "outputTranscription"), "text"),
        input_transcript=_string(_object(content, "inputTranscription"), "text"),
        generation_complete=bool(content.get("generationComplete")),
        turn_complete=bool(content.get("turnComplete")),
        interrupted=bool(content.get("interrupted")),
    )


def _function_calls(frame: Mapping[str, Any]) -> tuple[FunctionCall, ...]:
    calls: list[FunctionCall] = []
    entries = _list(_object(frame, "toolCall"), "functionCalls")
    if len(entries) > MAX_FUNCTION_CALLS:  # each is answered with a toolResponse: bound the sends too
        raise ProtocolError(f"toolCall with {len(entries)} functionCalls, more than {MAX_FUNCTION_CALLS}")
    for call in entries:
        if not isinstance(call, dict):
            raise ProtocolError("toolCall.functionCalls[] entry is not an object")
        args = _object(call, "args")
        calls.append(FunctionCall(id=_string(call, "id"), name=_string(call, "name"), args=args))
    return tuple(calls)


def _go_away(frame: Mapping[str, Any]) -> float | None:
    if "goAway" not in frame:
        return None
    time_left = _object(frame, "goAway").get("timeLeft")
    if time_left is None:
        return 0.0
    try:
        return parse_duration(time_left)
    except ValueError as exc:
        raise ProtocolError(f"goAway.timeLeft: {exc}") from None


def _new_handle(frame: Mapping[str, Any]) -> str:
    update = _object(frame, "sessionResumptionUpdate")
    if update.get("resumable") is False:
        return ""
    return _string(update, "newHandle")


def _usage(frame: Mapping[str, Any]) -> Usage | None:
    if "usageMetadata" not in frame:
        return None
    usage = _object(frame, "usageMetadata")
    # Vertex sends candidatesTokenCount where the Gemini API sends responseTokenCount.
    response = usage.get("responseTokenCount", usage.get("candidatesTokenCount"))
    return Usage(prompt_tokens=_count(usage.get("promptTokenCount")), response_tokens=_count(response))


def _count(value: Any) -> int | None:
    if value is None:
        return None
    # int64 counts may arrive as JSON strings; the walk has bounded JSON integers, a string is bounded here.
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) <= DEFAULT_INTEGER_DIGITS
    ):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < 10**DEFAULT_INTEGER_DIGITS:
        return int(value)
    raise ProtocolError(f"token count is not a count: {bounds.safe_text(repr(value), 60)}")
