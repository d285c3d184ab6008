"""google-genai's message types as the judge of every recorded frame, both ways.

A client frame must be one JSON object with exactly one `LiveClientMessage` field, and validate as that
model (its models forbid unknown fields at every depth and check base64, both alphabets). The SDK's own
`setup` converter emits `realtimeInputConfig`, which `LiveClientSetup` does not declare: it is validated as
the SDK's `RealtimeInputConfig`. A server frame is parsed as google/genai/live.py does (the mldev converter,
then `LiveServerMessage`), and nothing in it may be dropped on the way: a key the SDK does not know would be
invisible to every app built on it.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from google.genai import types
from google.genai._common import BaseModel
from google.genai._live_converters import _LiveServerMessage_from_mldev

from tests.conformance.proxy import Connection, Direction, Frame

# The setup fields the SDK sends that LiveClientSetup lacks, each with the SDK type that owns it.
_SETUP_EXTRAS: dict[str, type[BaseModel]] = {
    "realtimeInputConfig": types.RealtimeInputConfig,
    "realtime_input_config": types.RealtimeInputConfig,
}
_CLIENT_FIELDS = frozenset(
    name
    for field_name, info in types.LiveClientMessage.model_fields.items()
    for name in (field_name, info.alias or field_name)
)


M = TypeVar("M", bound=BaseModel)


class ConformanceError(AssertionError):
    pass


def check_client_frame(frame: Frame) -> types.LiveClientMessage:
    message = _json_object(frame)
    if len(message) != 1 or next(iter(message)) not in _CLIENT_FIELDS:
        raise ConformanceError(f"client frame needs exactly one LiveClientMessage field: {sorted(message)}")
    body = message.get("setup")
    if isinstance(body, dict):
        body = dict(body)
        for key, model in _SETUP_EXTRAS.items():
            if key in body:
                _validate(model, body.pop(key), frame)
        message = {"setup": body}
    return _validate(types.LiveClientMessage, message, frame)


def check_server_frame(frame: Frame) -> types.LiveServerMessage:
    message = _json_object(frame)
    converted = _LiveServerMessage_from_mldev(message)
    parsed = _validate(types.LiveServerMessage, converted, frame)
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, mode="json")
    dropped = _paths(message) - _paths(dumped, renamed=True)
    if dropped:
        raise ConformanceError(f"the SDK drops {sorted(dropped)} of server frame {_show(frame)}")
    return parsed


def check_connection(connection: Connection) -> tuple[int, int]:
    """Validate every frame of one connection; (client frames, server frames) checked."""
    for frame in connection.frames:
        if frame.direction is Direction.CLIENT:
            check_client_frame(frame)
        else:
            check_server_frame(frame)
    return len(connection.sent()), len(connection.received())


def decoded(frame: Frame) -> dict[str, Any]:
    return _json_object(frame)


def _json_object(frame: Frame) -> dict[str, Any]:
    try:
        value = json.loads(frame.data)
    except ValueError as exc:
        raise ConformanceError(f"{frame.direction} frame is not JSON ({exc}): {_show(frame)}") from None
    if not isinstance(value, dict):
        raise ConformanceError(f"{frame.direction} frame is not a JSON object: {_show(frame)}")
    return value


def _validate(model: type[M], value: Any, frame: Frame) -> M:
    try:
        # JSON mode, as the SDK reads the wire: bytes fields are base64 there.
        return model.model_validate_json(json.dumps(value))
    except ValueError as exc:
        raise ConformanceError(f"{model.__name__} refuses {_show(frame)}:\n{exc}") from None


# The mldev converter renames these; a renamed key is not a dropped one.
_RENAMED = {"voiceActivity.type": "voiceActivity.voiceActivityType"}


def _paths(value: Any, prefix: str = "", *, renamed: bool = False) -> set[str]:
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            camel = _camel(str(key))
            path = f"{prefix}{camel}"
            if not renamed:
                path = _RENAMED.get(path, path)
            paths.add(path)
            paths |= _paths(inner, f"{path}.", renamed=renamed)
    elif isinstance(value, list):
        for item in value:
            paths |= _paths(item, prefix, renamed=renamed)
    return paths


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _show(frame: Frame) -> str:
    text = frame.data[:300].decode("utf-8", "replace")
    return text + ("..." if len(frame.data) > 300 else "")
