"""The phases of one Live session, in the order a turn passes them: the vocabulary of where a turn failed.

The first two come before the socket: getting the credential the session connects with.

The session code in this package tags each deadline and failure with its phase; `monitor.probe.outcome`
re-exports it beside the other record vocabularies, whose values are label, store and log values at once.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Phase"]


class Phase(StrEnum):
    """Where a turn failed; NONE ("") for a turn that succeeded."""

    NONE = ""
    # Before the socket: obtaining the session's credential. `credentials` refreshes a Google OAuth access
    # token (Vertex AI); `token` mints an ephemeral token from the auth_tokens service.
    CREDENTIALS = "credentials"
    TOKEN = "token"  # noqa: S105 - a phase name, not a secret
    CONNECT = "connect"
    SETUP = "setup"
    FIRST_RESPONSE = "first_response"
    STREAMING = "streaming"
    TOOL_CALL = "tool_call"
