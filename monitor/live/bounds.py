"""What a decoded server frame may contain: nesting depth, integer size, finite numbers, safe kind names.

A server's JSON is hostile input. After the decoder has turned a frame into Python values, `normalise()` walks
it once (the walk also rewrites snake_case keys to camelCase) and refuses, as `ProtocolError` naming the
limit, nesting deeper than the depth limit (a 100k-deep frame never reaches a recursive step), an integer
with more digits than the limit (it would overflow a 64-bit counter or SQLite column later) and a non-finite
float (`1e400` decodes to infinity). `kind_name()` makes an unknown message key fit for a record, a label, a
log line and a page: ASCII letters, digits and `_` only, bounded in length, so a lone surrogate, a 10 kB key,
ANSI escapes or Markdown/HTML never travel further than this module.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from monitor.live.errors import ProtocolError

__all__ = ["KIND_CHARS", "MAX_ARRAY_ENTRIES", "MAX_UNKNOWN_KINDS", "kind_name", "normalise", "safe_text"]

KIND_CHARS: Final = 40  # an unknown kind keeps this many characters of its key
MAX_UNKNOWN_KINDS: Final = 4  # unknown keys named per frame; the rest are counted in one entry
# Entries of one JSON array: a real frame's arrays (parts, functionCalls) hold a handful. A 4 MiB frame of a
# million `{}` took 1.5 s of CPU to parse and build, on the loop every other probe's marks are taken on.
MAX_ARRAY_ENTRIES: Final = 4096
_CONTAINERS_AND_NUMBERS: Final = frozenset({dict, list, int, float})  # what _walk must look into or check
_SNAKE: Final = re.compile(r"_([a-z0-9])")
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_]")
_SAFE_KEY: Final = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{KIND_CHARS - 1}}}")
# C0/C1 controls (ESC, NUL, CR, ...), DEL, and lone surrogates (which no UTF-8 store or log can write).
_UNPRINTABLE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def normalise(value: Any, *, depth: int, integer_digits: int) -> Any:
    """`value` with camelCase keys at every level; ProtocolError past the depth or number limits."""
    return _walk(value, depth, 10**integer_digits, integer_digits, depth)


def _walk(value: Any, left: int, bound: int, digits: int, depth: int) -> Any:
    # Dispatch on the exact type: decoded JSON holds only dict, list, str, int, float, bool and None, and this
    # walk runs over every frame of every probe turn.
    kind = type(value)
    if kind is dict:
        if left <= 0:
            raise ProtocolError(f"frame nested deeper than limits.json_depth {depth}")
        if "_" in "".join(value):  # JSON keys are strings; one C-level scan instead of a generator
            return {
                _SNAKE.sub(lambda m: m.group(1).upper(), str(k)): _walk(v, left - 1, bound, digits, depth)
                for k, v in value.items()
            }
        # Already camelCase (what the service sends): same checks, values replaced in place, no new dict.
        for k, v in value.items():
            if type(v) in _CONTAINERS_AND_NUMBERS:
                value[k] = _walk(v, left - 1, bound, digits, depth)
        return value
    if kind is list:
        if left <= 0:
            raise ProtocolError(f"frame nested deeper than limits.json_depth {depth}")
        if len(value) > MAX_ARRAY_ENTRIES:
            raise ProtocolError(f"array of {len(value)} entries, more than {MAX_ARRAY_ENTRIES}")
        return [
            _walk(v, left - 1, bound, digits, depth) if type(v) in _CONTAINERS_AND_NUMBERS else v
            for v in value
        ]
    if kind is int:
        if not -bound < value < bound:
            raise ProtocolError(f"integer longer than limits.integer_digits {digits}")
        return value
    if kind is float and not math.isfinite(value):
        raise ProtocolError(f"number out of range ({value!r}: not a finite double)")
    return value  # str, bool, None (and a float that is finite)


def kind_name(key: str) -> str:
    """An unknown message key as a record kind: itself if it is a short identifier, else a safe stand-in.

    The stand-in keeps the first `KIND_CHARS` characters with every character outside `[A-Za-z0-9_]` turned
    into `_`, and ends in `~<length>` so a reader can tell it was rewritten.
    """
    if _SAFE_KEY.fullmatch(key):
        return key
    return f"{_UNSAFE.sub('_', key[:KIND_CHARS])}~{len(key)}"


def safe_text(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters with control characters and lone surrogates escaped (`\\x1b`)."""
    cut = text[:limit]
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else "\\ufffd", cut)
