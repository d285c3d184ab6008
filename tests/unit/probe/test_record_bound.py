"""The record-size bound that lets nearly every turn skip encoding its record: never under the real size."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.probe.outcome import Cause, Outcome, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from monitor.probe.runner import _record_bound, _within_record_limit

# Any character a server could make us keep, astral ones and lone surrogates included.
_TEXT = st.text(st.characters(codec=None), max_size=40)
_SECONDS = st.floats(-1e300, 1e300, allow_nan=False) | st.floats(-10, 10)


@st.composite
def _results(draw: st.DrawFn) -> ProbeResult:
    recovery = draw(st.none() | st.builds(lambda d: Recovery(
        kind=RecoveryKind.RESUMED, outcome=RecoveryOutcome.FAILED, seconds=1e300, detail=d
    ), _TEXT))  # fmt: skip
    return ProbeResult(
        run_id=draw(_TEXT), started_at=datetime(2026, 12, 4, tzinfo=UTC), vantage=draw(_TEXT),
        endpoint=draw(_TEXT), model=draw(_TEXT), probe=ProbeKind.TOOL, outcome=Outcome.PROTOCOL_ERROR,
        cause=Cause.QUOTA, code=-(10**18 - 1), close_reason=draw(_TEXT), close_initiator="server",
        timings={phase: draw(_SECONDS) for phase in TimingPhase},
        messages=tuple(draw(st.lists(st.tuples(_TEXT, _SECONDS), max_size=30))),
        messages_dropped=10**18, audio_seconds=-1e300, prompt_tokens=10**18 - 1, response_tokens=10**18 - 1,
        recovery=recovery, detail=draw(_TEXT),
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_results())
def test_the_bound_is_never_under_the_stored_size(result: ProbeResult) -> None:
    assert _record_bound(result) >= len(json.dumps(result.to_record()).encode())


def test_a_record_over_the_limit_is_still_cut_to_fit() -> None:
    """The bound only skips the exact size when it fits: a record of 400 long kinds is cut under 8 kB."""
    messages = tuple((f"kind_{i:03d}_" + "x" * 30, i / 100) for i in range(400))
    result = ProbeResult(
        run_id="r", started_at=datetime(2026, 12, 4, tzinfo=UTC), vantage="v", endpoint="e", model="m",
        probe=ProbeKind.TEXT, outcome=Outcome.OK, messages=messages,
    )  # fmt: skip
    cut = _within_record_limit(result, 8192)
    assert len(json.dumps(cut.to_record()).encode()) <= 8192
    assert cut.messages_dropped > 0
    assert _within_record_limit(result, 10**6) is result


def test_the_bound_holds_for_the_worst_record() -> None:
    """Every free string astral (12 bytes a character escaped), the longest numbers, every field set; and
    the bound is no looser than twice the real size, so it still lets the common record skip encoding."""
    astral = "\U0001f600" * 40
    tiny = -1.2345678901234567e-300
    worst = ProbeResult(
        run_id=astral, started_at=datetime(2026, 12, 4, 23, 59, 59, 999_000, tzinfo=UTC), vantage=astral,
        endpoint=astral, model=astral, probe=ProbeKind.TOOL, outcome=Outcome.CREDENTIALS_ERROR,
        cause=Cause.AUTH, code=-(10**18 - 1), close_reason=astral, close_initiator="server",
        timings=dict.fromkeys(TimingPhase, tiny),
        messages=tuple((astral, tiny) for _ in range(30)),
        messages_dropped=10**18, audio_seconds=tiny, prompt_tokens=-(10**18 - 1),
        response_tokens=-(10**18 - 1),
        recovery=Recovery(
            kind=RecoveryKind.RESUMED, outcome=RecoveryOutcome.FAILED, seconds=tiny, detail=astral
        ),
        detail=astral,
    )  # fmt: skip
    size = len(json.dumps(worst.to_record()).encode())
    assert size <= _record_bound(worst) <= 2 * size
