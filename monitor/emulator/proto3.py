"""proto3-JSON values as Google's parser reads them: typed scalars, bytes and enums.

From the protobuf JSON mapping (protobuf.dev/programming-guides/json): strings and bools take only their JSON
type; integers a number without a fraction or a decimal string; floats a number or a numeric string; bytes
base64 in the standard or the URL-safe alphabet, padded or not (google-genai encodes `Blob.data` URL-safe);
enums the value's name or its number (proto3 enums are open: unknown numbers are kept).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["BOOL", "BYTES", "FLOAT", "INT", "STRING", "Enum", "decode_base64", "quoted", "read_scalar"]

BYTES: Final = "bytes"
STRING: Final = "TYPE_STRING"
BOOL: Final = "TYPE_BOOL"
INT: Final = "TYPE_INT32"  # int32 and int64 read alike: a JSON number or a decimal string
FLOAT: Final = "TYPE_FLOAT"


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


def quoted(value: Any) -> str:
    """The offending value as the parser shows it: a string quoted, anything else as JSON (the close reason
    is cut at 123 bytes anyway)."""
    if isinstance(value, str):
        return '"' + value[:200] + '"'
    return json.dumps(value)[:200]


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    """proto3 JSON integers: a number without a fraction, or the same as a decimal string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    """proto3 JSON floats: a number, or a numeric string ("1.5", "NaN", "Infinity")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value) if value.strip() == value and value else None
        except ValueError:
            return None
    return None


_INTEGER = re.compile(r"-?[0-9]{1,20}")
_SCALARS: dict[str, Any] = {STRING: _string, BOOL: _bool, INT: _int, FLOAT: _float}


def read_scalar(kind: str, value: Any) -> Any:
    """The value read as `kind` (STRING, BOOL, INT or FLOAT), or None when proto3 JSON refuses it."""
    return _SCALARS[kind](value)
