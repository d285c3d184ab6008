"""The classification table: from what ended a turn to (outcome, cause). The one place this is decided.

Input is an `Observation` (initiator, close code, reason, HTTP status, exception kind); `classify()` picks the
outcome from the mechanism and the cause from the tables below (close reasons as the Gemini API and Vertex
AI send them):

    mechanism                               outcome              cause
    close frame from the server             server_close         _REASON_RULES, else _CODE_FALLBACK
    no close frame (1006)                   connection_lost      none; keepalive if our ping went unanswered
    we closed at a goAway deadline          timeout              goaway
    HTTP status at the upgrade              handshake_rejected   _HTTP_CAUSES, else unknown
    DNS / TCP / TLS                         connect_error        none
    OAuth refresh or token mint failed      credentials_error    credential_cause (message, then status)
    one of our phase budgets ran out        timeout              deadline
    unparseable or out-of-order frame       protocol_error       none
    turnComplete with nothing in it         empty_turn           none
    audio or transcript failed its check    validation_failed    none
    anything else (our bug)                 prober_error         none

Reasons are matched by case-insensitive search, so Vertex's "Request trace id: ..., [ORIGINAL ERROR]" prefix
and the 123-byte truncation do not matter. A reason no rule knows is `unknown`, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from monitor.live.errors import (
    ClientClosed,
    ConnectFailed,
    ConnectionLost,
    HandshakeRejected,
    PhaseTimeout,
    ProtocolError,
    ServerClosed,
)
from monitor.probe.credentials import CredentialFailed
from monitor.probe.outcome import Cause, Outcome

__all__ = [
    "Mechanism",
    "Observation",
    "classify",
    "close_cause",
    "credential_cause",
    "http_cause",
    "observe",
]


class Mechanism(StrEnum):
    """How a failed turn ended, before any interpretation."""

    SERVER_CLOSE = "server_close"
    NO_CLOSE_FRAME = "no_close_frame"
    KEEPALIVE = "keepalive"  # our own ping went unanswered: client-initiated
    GOAWAY_DEADLINE = "goaway_deadline"  # we closed before the server's goAway abort: client-initiated
    HANDSHAKE = "handshake"
    CONNECT = "connect"
    CREDENTIALS = "credentials"  # no credential: OAuth refresh or ephemeral-token mint failed
    BUDGET = "budget"
    PROTOCOL = "protocol"
    EMPTY_TURN = "empty_turn"
    VALIDATION = "validation"
    BUG = "bug"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    mechanism: Mechanism
    code: int | None = None  # close code, or HTTP status for HANDSHAKE and CREDENTIALS
    reason: str = ""
    timed_out: bool = False  # CREDENTIALS: the token service did not answer in time


# (close code or None for any code, pattern, cause); first match wins, so specific rows come first.
_REASON_RULES: Final[tuple[tuple[int | None, re.Pattern[str], Cause], ...]] = tuple(
    (code, re.compile(pattern, re.IGNORECASE), cause)
    for code, pattern, cause in (
        # quota: both 1011 texts, RESOURCE_EXHAUSTED (max concurrent sessions)
        (None, r"exceeded your current quota|resource has been exhausted|resource_exhausted", Cause.QUOTA),
        # auth: 1007 key texts, 1008 unregistered caller / invalid credentials, geo block
        (None, r"api key (not valid|not found|expired)|pass a valid api key", Cause.AUTH),
        (None, r"unregistered callers|invalid authentication credentials", Cause.AUTH),
        (None, r"user location is not supported", Cause.AUTH),
        # model_not_found: retired/unknown model, wrong API version, model not on Vertex, not a Live model
        (None, r"is not found for api version|not supported for bidigeneratecontent", Cause.MODEL_NOT_FOUND),
        (
            None,
            r"publisher model .* was( not found)?|is not supported in the live api",
            Cause.MODEL_NOT_FOUND,
        ),
        # goaway: the server aborts a client that ignored its goAway
        (None, r"failed to close the connection after receiving a goaway", Cause.GOAWAY),
        # unsupported: function calling on some models; unsupported output MIME types
        (None, r"operation is not implemented, or supported, or enabled", Cause.UNSUPPORTED),
        (None, r"application/json isn't", Cause.UNSUPPORTED),
        # invalid_argument: the 1007 family (bad payload, TEXT modality, voices, mediaChunks, unknown fields)
        (
            None,
            r"invalid argument|unknown name|response modalities|cannot extract voices",
            Cause.INVALID_ARGUMENT,
        ),
        (None, r"media_chunks is deprecated|invalid json payload", Cause.INVALID_ARGUMENT),
        # deadline / unavailable / cancelled / internal: the 1011 family
        (None, r"deadline expired|deadline_exceeded", Cause.DEADLINE),
        (None, r"currently unavailable|overloaded|unavailable", Cause.UNAVAILABLE),
        (None, r"operation was cancelled|status = cancelled|thread was cancelled", Cause.CANCELLED),
        (None, r"internal error", Cause.INTERNAL),
        (None, r"generic::unknown", Cause.UNKNOWN),
        # 1008 "Requested entity was not found." mid-session (after a toolResponse): which entity is not
        # said, so it is not evidence of a retired model; left unknown on purpose.
        (1008, r"requested entity was not found", Cause.UNKNOWN),
        # A bare normal close while a turn is still open: the server ended the operation.
        (1000, r"^$", Cause.CANCELLED),
    )
)

# Codes whose meaning survives a reason no rule knows (gRPC status -> close code, as google.rpc codes map).
_CODE_FALLBACK: Final[dict[int, Cause]] = {
    1007: Cause.INVALID_ARGUMENT,
    1011: Cause.INTERNAL,
}

_HTTP_CAUSES: Final[dict[int, Cause]] = {
    400: Cause.INVALID_ARGUMENT,
    401: Cause.AUTH,
    403: Cause.AUTH,
    404: Cause.MODEL_NOT_FOUND,
    429: Cause.QUOTA,
    500: Cause.INTERNAL,
    502: Cause.UNAVAILABLE,
    503: Cause.UNAVAILABLE,
    504: Cause.DEADLINE,
}

# OAuth 2.0 error codes (RFC 6749 5.2) from a token endpoint, before the Live API's own texts: a revoked key,
# a deleted service account or a wrong client is our credential, whatever HTTP status carried it.
_OAUTH_RULES: Final[tuple[tuple[re.Pattern[str], Cause], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), cause)
    for pattern, cause in (
        (r"invalid_grant|invalid_client|unauthorized_client|access_denied|invalid_scope", Cause.AUTH),
        (r"unauthenticated|permission_denied|permission denied", Cause.AUTH),
        (r"temporarily_unavailable|server_error", Cause.UNAVAILABLE),
    )
)

_OUTCOMES: Final[dict[Mechanism, tuple[Outcome, Cause]]] = {
    Mechanism.NO_CLOSE_FRAME: (Outcome.CONNECTION_LOST, Cause.NONE),
    Mechanism.KEEPALIVE: (Outcome.CONNECTION_LOST, Cause.KEEPALIVE),
    Mechanism.GOAWAY_DEADLINE: (Outcome.TIMEOUT, Cause.GOAWAY),
    Mechanism.CONNECT: (Outcome.CONNECT_ERROR, Cause.NONE),
    Mechanism.BUDGET: (Outcome.TIMEOUT, Cause.DEADLINE),
    Mechanism.PROTOCOL: (Outcome.PROTOCOL_ERROR, Cause.NONE),
    Mechanism.EMPTY_TURN: (Outcome.EMPTY_TURN, Cause.NONE),
    Mechanism.VALIDATION: (Outcome.VALIDATION_FAILED, Cause.NONE),
    Mechanism.BUG: (Outcome.PROBER_ERROR, Cause.NONE),
}


def close_cause(code: int, reason: str) -> Cause:
    """The cause of a server close with this code and reason."""
    for rule_code, pattern, cause in _REASON_RULES:
        if (rule_code is None or rule_code == code) and pattern.search(reason):
            return cause
    return _CODE_FALLBACK.get(code, Cause.UNKNOWN)


def http_cause(status: int) -> Cause:
    """The cause of an HTTP status answering the upgrade."""
    return _HTTP_CAUSES.get(status, Cause.UNKNOWN)


def credential_cause(status: int | None, reason: str, *, timed_out: bool = False) -> Cause:
    """The cause of a failed OAuth refresh or token mint: the message first (Google sends an invalid API key
    as HTTP 400), then the HTTP status; no answer at all is `deadline` (too slow) or `unavailable`."""
    for pattern, cause in _OAUTH_RULES:
        if pattern.search(reason):
            return cause
    for rule_code, pattern, cause in _REASON_RULES:
        if rule_code is None and pattern.search(reason):
            return cause
    if status is not None:
        return http_cause(status)
    return Cause.DEADLINE if timed_out else Cause.UNAVAILABLE


def classify(observation: Observation) -> tuple[Outcome, Cause]:
    """(outcome, cause) for how a failed turn ended."""
    mechanism = observation.mechanism
    if mechanism is Mechanism.CREDENTIALS:
        cause = credential_cause(observation.code, observation.reason, timed_out=observation.timed_out)
        return Outcome.CREDENTIALS_ERROR, cause
    if mechanism is Mechanism.SERVER_CLOSE:
        return Outcome.SERVER_CLOSE, close_cause(observation.code or 0, observation.reason)
    if mechanism is Mechanism.HANDSHAKE:
        return Outcome.HANDSHAKE_REJECTED, http_cause(observation.code or 0)
    return _OUTCOMES[mechanism]


def observe(error: BaseException) -> Observation:
    """The observation an exception stands for; anything not raised on purpose is our own bug."""
    match error:
        case ServerClosed(code=code, reason=reason):
            return Observation(mechanism=Mechanism.SERVER_CLOSE, code=code, reason=reason)
        case ConnectionLost(keepalive=True):
            return Observation(mechanism=Mechanism.KEEPALIVE, code=1006, reason="keepalive ping timeout")
        case ConnectionLost():
            return Observation(mechanism=Mechanism.NO_CLOSE_FRAME, code=1006)
        case ClientClosed(goaway=True, code=code):
            return Observation(mechanism=Mechanism.GOAWAY_DEADLINE, code=code, reason=str(error))
        case HandshakeRejected(status=status):
            return Observation(mechanism=Mechanism.HANDSHAKE, code=status, reason=str(error))
        case CredentialFailed(status=status, timed_out=timed_out):
            return Observation(
                mechanism=Mechanism.CREDENTIALS, code=status, reason=str(error), timed_out=timed_out
            )
        case ConnectFailed():
            return Observation(mechanism=Mechanism.CONNECT, reason=str(error))
        case PhaseTimeout():
            return Observation(mechanism=Mechanism.BUDGET, reason=str(error))
        case ProtocolError():
            return Observation(mechanism=Mechanism.PROTOCOL, reason=str(error))
        case _:
            return Observation(mechanism=Mechanism.BUG, reason=type(error).__name__)
