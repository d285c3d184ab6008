"""The phases of one Live session, in the order a turn passes them: the vocabulary of where a turn failed.

The session code in this package tags each deadline and failure with its phase; `monitor.probe.outcome`
re-exports it beside the other record vocabularies, whose values are label, store and log values at once.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Phase"]


class Phase(StrEnum):
    """Where a turn failed; NONE ("") for a turn that succeeded."""

    NONE = ""
    CONNECT = "connect"
    SETUP = "setup"
    FIRST_RESPONSE = "first_response"
    STREAMING = "streaming"
    TOOL_CALL = "tool_call"
