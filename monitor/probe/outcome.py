"""The outcome vocabulary of a probe turn: what happened, why, and where.

These enums are a public contract: their values are Prometheus label values, SQLite column values and log
values at once (docs/store.md, docs/metrics.md). Never rename a value; add new ones only with the dashboards,
rules and store in mind.

    outcome              what the probe saw
    ├── ok               turn completed with audio or transcript
    ├── server_close     a close frame arrived from the server (code and reason kept)
    ├── connection_lost  the socket died with no close frame (1006)
    ├── handshake_rejected  the upgrade was answered with an HTTP status (code holds it)
    ├── connect_error    DNS, TCP or TLS failed before the upgrade
    ├── credentials_error  no credential for the session: the OAuth refresh (phase credentials) or the
    │                    ephemeral-token mint (phase token) failed; no Live session was attempted
    ├── timeout          a phase budget of ours ran out (phase says which)
    ├── protocol_error   an unparseable or out-of-order server frame
    ├── empty_turn       turnComplete with no audio and no transcript (the "silent stall")
    ├── validation_failed  audio came back but is silent or malformed
    └── prober_error     our own bug; never counted against the provider
"""

from enum import StrEnum

from monitor.live.phase import Phase

__all__ = ["FAILURE_PHASES", "Cause", "Outcome", "Phase", "ProbeKind", "TimingPhase"]


class ProbeKind(StrEnum):
    """What a probe turn sends."""

    TEXT = "text"
    AUDIO = "audio"
    TOOL = "tool"


class Outcome(StrEnum):
    """How a probe turn ended (see the module docstring for the tree)."""

    OK = "ok"
    SERVER_CLOSE = "server_close"
    CONNECTION_LOST = "connection_lost"
    HANDSHAKE_REJECTED = "handshake_rejected"
    CONNECT_ERROR = "connect_error"
    CREDENTIALS_ERROR = "credentials_error"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"
    EMPTY_TURN = "empty_turn"
    VALIDATION_FAILED = "validation_failed"
    PROBER_ERROR = "prober_error"


class Cause(StrEnum):
    """The normalised reason behind a failure, from (code, reason, HTTP status) by a table."""

    NONE = "none"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    QUOTA = "quota"
    AUTH = "auth"
    MODEL_NOT_FOUND = "model_not_found"
    INVALID_ARGUMENT = "invalid_argument"
    UNSUPPORTED = "unsupported"
    GOAWAY = "goaway"
    DEADLINE = "deadline"
    CANCELLED = "cancelled"
    KEEPALIVE = "keepalive"
    UNKNOWN = "unknown"


FAILURE_PHASES = tuple(p for p in Phase if p is not Phase.NONE)


class TimingPhase(StrEnum):
    """The measured intervals of a turn; the keys of a record's `timings` (docs/store.md).

    token = the ephemeral-token mint (request sent to token received; `auth: token` endpoints only);
    connect = TCP + TLS + upgrade; setup = setup sent to setupComplete; first_response, first_audio and turn =
    turn sent to the first serverContent, the first audio chunk and turnComplete; failure = turn sent (or
    connect start, if it failed earlier) to the failure.
    """

    TOKEN = "token"  # noqa: S105 - a phase name, not a secret
    CONNECT = "connect"
    SETUP = "setup"
    FIRST_RESPONSE = "first_response"
    FIRST_AUDIO = "first_audio"
    TURN = "turn"
    FAILURE = "failure"
