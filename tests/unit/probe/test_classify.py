"""The classification table: every reason of docs/protocol.md 5.2/5.3 and every outcome, plus fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.live.errors import (
    ClientClosed,
    ConnectFailed,
    ConnectionLost,
    HandshakeRejected,
    PhaseTimeout,
    ProtocolError,
    ServerClosed,
)
from monitor.probe.classify import Mechanism, Observation, classify, close_cause, http_cause, observe
from monitor.probe.outcome import Cause, Outcome

QUOTA_123 = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, head to: h"
)
NOT_FOUND_123 = (
    "models/gemini-2.0-flash-live-001 is not found for API version v1alpha, or is not supported for "
    "bidiGenerateContent. Call Li"
)


@pytest.mark.parametrize(
    ("code", "reason", "cause"),
    [
        pytest.param(1000, "The operation was cancelled.", Cause.CANCELLED, id="1000-cancelled"),
        pytest.param(1000, "", Cause.CANCELLED, id="1000-empty"),
        pytest.param(
            1007, "Request contains an invalid argument.", Cause.INVALID_ARGUMENT, id="1007-invalid"
        ),
        pytest.param(
            1007, "API key not valid. Please pass a valid API key.", Cause.AUTH, id="1007-key-invalid"
        ),
        pytest.param(
            1007, "API Key not found. Please pass a valid API key.", Cause.AUTH, id="1007-key-not-found"
        ),
        pytest.param(1007, "API key expired. Please renew the API key.", Cause.AUTH, id="1007-key-expired"),
        pytest.param(1007, "User location is not supported for the API use.", Cause.AUTH, id="1007-geo"),
        pytest.param(
            1007,
            "The requested combination of response modalities (TEXT) is not supported by the model. models/x",
            Cause.INVALID_ARGUMENT,
            id="1007-modality",
        ),
        pytest.param(
            1007, "Cannot extract voices from a non-audio request.", Cause.INVALID_ARGUMENT, id="1007-voices"
        ),
        pytest.param(
            1007,
            "realtime_input.media_chunks is deprecated. Use audio, video, or text instead.",
            Cause.INVALID_ARGUMENT,
            id="1007-media-chunks",
        ),
        pytest.param(
            1007,
            'Invalid JSON payload received. Unknown name "scheduling" at '
            "'tool_response.function_responses[0]'"
            ": Cannot find field.",
            Cause.INVALID_ARGUMENT,
            id="1007-unknown-name",
        ),
        pytest.param(
            1007,
            "gemini-2.5-flash is not supported in the live api.",
            Cause.MODEL_NOT_FOUND,
            id="1007-not-live",
        ),
        pytest.param(1007, "context exhausted", Cause.INVALID_ARGUMENT, id="1007-other"),
        pytest.param(1008, NOT_FOUND_123, Cause.MODEL_NOT_FOUND, id="1008-not-found-for-api-version"),
        pytest.param(
            1008,
            "Publisher Model `projects/p/locations/us-central1/publishers/google/models/"
            "gemini-3.1-flash-live-preview` was",
            Cause.MODEL_NOT_FOUND,
            id="1008-publisher-model",
        ),
        pytest.param(
            1008,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key "
            "or other form of API c",
            Cause.AUTH,
            id="1008-unregistered",
        ),
        pytest.param(
            1008,
            "Request had invalid authentication credentials. "
            "Expected OAuth 2 access token, login cookie or other "
            "valid authentication c",
            Cause.AUTH,
            id="1008-credentials",
        ),
        pytest.param(
            1008,
            "Operation is not implemented, or supported, or enabled.",
            Cause.UNSUPPORTED,
            id="1008-unsupported",
        ),
        pytest.param(1008, "Requested entity was not found.", Cause.UNKNOWN, id="1008-entity-not-found"),
        pytest.param(
            1008,
            "Connection aborted because the client failed to close the connection after receiving a GoAway "
            "signal once the session durat",
            Cause.GOAWAY,
            id="1008-goaway-abort",
        ),
        pytest.param(
            1008, "Request trace id: 5abe86aa: application/json isn't", Cause.UNSUPPORTED, id="1008-mime"
        ),
        pytest.param(1008, "something new", Cause.UNKNOWN, id="1008-other"),
        pytest.param(1011, "Internal error encountered.", Cause.INTERNAL, id="1011-internal-encountered"),
        pytest.param(1011, "Internal error occurred.", Cause.INTERNAL, id="1011-internal-occurred"),
        pytest.param(1011, "The service is currently unavailable.", Cause.UNAVAILABLE, id="1011-unavailable"),
        pytest.param(
            1011, "Deadline expired before operation could complete.", Cause.DEADLINE, id="1011-deadline"
        ),
        pytest.param(
            1011,
            "Request trace id: 0123456789abcdef, [ORIGINAL ERROR] RPC::DEADLINE_EXCEEDED: ",
            Cause.DEADLINE,
            id="1011-rpc-deadline",
        ),
        pytest.param(1011, QUOTA_123, Cause.QUOTA, id="1011-quota-123-bytes"),
        pytest.param(
            1011, "Resource has been exhausted (e.g. check quota).", Cause.QUOTA, id="1011-exhausted"
        ),
        pytest.param(
            1011,
            "Request trace id: 1, [ORIGINAL ERROR] generic::resource_exhausted: "
            "RESOURCE_EXHAUSTED: Maximum concurrent se",
            Cause.QUOTA,
            id="1011-max-sessions",
        ),
        pytest.param(
            1011,
            "extensible_stubs::OVERLOADED_TOO_MANY_RETRIES_PER_REQUEST: You are mos",
            Cause.UNAVAILABLE,
            id="1011-overloaded",
        ),
        pytest.param(
            1011,
            "Thread was cancelled when writing StartStep status to channel.; "
            "Failed to close the streaming context;"
            " status = CANCELLED: ",
            Cause.CANCELLED,
            id="1011-thread-cancelled",
        ),
        pytest.param(
            1011,
            "Request trace id: 1, [ORIGINAL ERROR] generic::unknown: Reasoning Engine Execution failed.",
            Cause.UNKNOWN,
            id="1011-generic-unknown",
        ),
        pytest.param(1011, "", Cause.INTERNAL, id="1011-empty"),
        pytest.param(1001, "going away", Cause.UNKNOWN, id="1001-unseen"),
    ],
)
def test_server_close_reasons(code: int, reason: str, cause: Cause) -> None:
    """Each close reason seen on the real service maps to its cause; the outcome is server_close."""
    assert close_cause(code, reason) is cause
    assert classify(Observation(mechanism=Mechanism.SERVER_CLOSE, code=code, reason=reason)) == (
        Outcome.SERVER_CLOSE,
        cause,
    )


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        pytest.param(400, Cause.INVALID_ARGUMENT, id="400"),
        pytest.param(401, Cause.AUTH, id="401"),
        pytest.param(403, Cause.AUTH, id="403"),
        pytest.param(404, Cause.MODEL_NOT_FOUND, id="404"),
        pytest.param(429, Cause.QUOTA, id="429"),
        pytest.param(500, Cause.INTERNAL, id="500"),
        pytest.param(502, Cause.UNAVAILABLE, id="502"),
        pytest.param(503, Cause.UNAVAILABLE, id="503"),
        pytest.param(504, Cause.DEADLINE, id="504"),
        pytest.param(418, Cause.UNKNOWN, id="418"),
    ],
)
def test_handshake_statuses(status: int, cause: Cause) -> None:
    assert http_cause(status) is cause
    outcome = classify(observe(HandshakeRejected(status)))
    assert outcome == (Outcome.HANDSHAKE_REJECTED, cause)


@pytest.mark.parametrize(
    ("error", "outcome", "cause", "mechanism"),
    [
        pytest.param(
            ServerClosed(1011, "Internal error encountered."),
            Outcome.SERVER_CLOSE,
            Cause.INTERNAL,
            Mechanism.SERVER_CLOSE,
            id="server-close",
        ),
        pytest.param(
            ConnectionLost("dropped"),
            Outcome.CONNECTION_LOST,
            Cause.NONE,
            Mechanism.NO_CLOSE_FRAME,
            id="lost",
        ),
        pytest.param(
            ConnectionLost("ping", keepalive=True),
            Outcome.CONNECTION_LOST,
            Cause.KEEPALIVE,
            Mechanism.KEEPALIVE,
            id="keepalive-is-ours",
        ),
        pytest.param(
            ClientClosed(1000, "goAway", goaway=True),
            Outcome.TIMEOUT,
            Cause.GOAWAY,
            Mechanism.GOAWAY_DEADLINE,
            id="goaway-deadline",
        ),
        pytest.param(
            HandshakeRejected(429),
            Outcome.HANDSHAKE_REJECTED,
            Cause.QUOTA,
            Mechanism.HANDSHAKE,
            id="http-429",
        ),
        pytest.param(
            ConnectFailed("dns"), Outcome.CONNECT_ERROR, Cause.NONE, Mechanism.CONNECT, id="connect"
        ),
        pytest.param(
            PhaseTimeout("turn", 30), Outcome.TIMEOUT, Cause.DEADLINE, Mechanism.BUDGET, id="our-budget"
        ),
        pytest.param(
            ProtocolError("bad"), Outcome.PROTOCOL_ERROR, Cause.NONE, Mechanism.PROTOCOL, id="protocol"
        ),
        pytest.param(KeyError("x"), Outcome.PROBER_ERROR, Cause.NONE, Mechanism.BUG, id="our-bug"),
        pytest.param(
            ClientClosed(1000, "why?"),
            Outcome.PROBER_ERROR,
            Cause.NONE,
            Mechanism.BUG,
            id="unexplained-own-close",
        ),
    ],
)
def test_exceptions_to_outcomes(
    error: Exception, outcome: Outcome, cause: Cause, mechanism: Mechanism
) -> None:
    observation = observe(error)
    assert observation.mechanism is mechanism
    assert classify(observation) == (outcome, cause)


@pytest.mark.parametrize(
    ("mechanism", "outcome"),
    [
        pytest.param(Mechanism.EMPTY_TURN, Outcome.EMPTY_TURN, id="empty-turn"),
        pytest.param(Mechanism.VALIDATION, Outcome.VALIDATION_FAILED, id="validation"),
    ],
)
def test_check_mechanisms(mechanism: Mechanism, outcome: Outcome) -> None:
    assert classify(Observation(mechanism=mechanism)) == (outcome, Cause.NONE)


def test_every_outcome_is_reachable() -> None:
    """The table covers the whole outcome vocabulary except ok (which is no failure)."""
    reached = {classify(Observation(mechanism=m, code=1011))[0] for m in Mechanism}
    assert reached == set(Outcome) - {Outcome.OK}


def test_a_keepalive_close_is_never_a_server_1011() -> None:
    outcome, cause = classify(observe(ConnectionLost("keepalive ping timeout", keepalive=True)))
    assert outcome is not Outcome.SERVER_CLOSE
    assert cause is Cause.KEEPALIVE


@given(code=st.integers(min_value=-(2**31), max_value=2**31), reason=st.text(max_size=200))
def test_any_close_classifies_to_the_vocabulary(code: int, reason: str) -> None:
    """Open-ended codes and reasons never crash and always yield vocabulary values."""
    outcome, cause = classify(Observation(mechanism=Mechanism.SERVER_CLOSE, code=code, reason=reason))
    assert outcome is Outcome.SERVER_CLOSE
    assert cause in set(Cause)


@given(status=st.integers(min_value=0, max_value=1000))
def test_any_http_status_classifies(status: int) -> None:
    assert classify(Observation(mechanism=Mechanism.HANDSHAKE, code=status))[1] in set(Cause)


@given(mechanism=st.sampled_from(Mechanism), code=st.none() | st.integers(), reason=st.text(max_size=50))
def test_any_observation_classifies(mechanism: Mechanism, code: int | None, reason: str) -> None:
    outcome, cause = classify(Observation(mechanism=mechanism, code=code, reason=reason))
    assert outcome in set(Outcome)
    assert cause in set(Cause)
    assert outcome is not Outcome.OK
