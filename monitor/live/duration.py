"""Protobuf Duration strings as the Live API serialises them in JSON (`goAway.timeLeft`: "50s", "1.5s")."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

# proto3 JSON: optional sign, seconds with up to 9 fractional digits, then a literal "s". The seconds of a
# protobuf Duration stay within +-315,576,000,000 (12 digits); longer digit runs are refused, not converted.
_DURATION = re.compile(r"^(-?)(\d{1,12})(?:\.(\d{1,9}))?s$")


def parse_duration(text: str) -> float:
    """Seconds from a protobuf Duration string; ValueError naming the text if it is not one."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        shown = repr(text)[:40]  # a server's text: bounded before it travels into a record
        raise ValueError(f"not a protobuf Duration (expected e.g. '50s' or '1.5s'): {shown}")
    sign, whole, fraction = match.groups()
    seconds = int(whole) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)
    return -seconds if sign else seconds
