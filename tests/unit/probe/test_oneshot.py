"""The probe command's pure parts: failure classes, incident 000's table, target validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.probe.oneshot import (
    GEMINI_V1BETA_URL,
    TargetError,
    build_target,
    failure_class,
    format_table,
    load_setup,
)
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from monitor.probe.target import AuthKind, TextPath

AT = datetime(2026, 5, 27, 17, 42, tzinfo=UTC)


def result(model: str, outcome: Outcome, **fields: object) -> ProbeResult:
    return ProbeResult(
        run_id="r", started_at=AT, vantage="v", endpoint="gemini-api", model=model, probe=ProbeKind.TEXT,
        outcome=outcome, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("probe_result", "label"),
    [
        pytest.param(
            result("m", Outcome.SERVER_CLOSE, code=1008, cause=Cause.MODEL_NOT_FOUND),
            "server_close 1008 model_not_found",
            id="server-close",
        ),
        pytest.param(
            result("m", Outcome.TIMEOUT, cause=Cause.DEADLINE, phase=Phase.FIRST_RESPONSE),
            "timeout first_response",
            id="timeout",
        ),
        pytest.param(
            result("m", Outcome.TIMEOUT, cause=Cause.GOAWAY, phase=Phase.STREAMING),
            "timeout streaming goaway",
            id="goaway-deadline",
        ),
        pytest.param(
            result("m", Outcome.HANDSHAKE_REJECTED, code=429, cause=Cause.QUOTA),
            "handshake_rejected 429 quota",
            id="http-429",
        ),
        pytest.param(result("m", Outcome.EMPTY_TURN, phase=Phase.FIRST_RESPONSE), "empty_turn", id="empty"),
    ],
)
def test_failure_class(probe_result: ProbeResult, label: str) -> None:
    assert failure_class(probe_result) == label


def test_table_like_incident_000() -> None:
    internal = {"code": 1011, "cause": Cause.INTERNAL, "phase": Phase.FIRST_RESPONSE}
    recovered = Recovery(kind=RecoveryKind.FRESH, outcome=RecoveryOutcome.OK, seconds=1.0)
    results = [
        result("latest", Outcome.OK),
        *[result("latest", Outcome.SERVER_CLOSE, recovery=recovered, **internal) for _ in range(8)],  # type: ignore[arg-type]
        result("latest", Outcome.EMPTY_TURN, phase=Phase.FIRST_RESPONSE),
        *[result("09-2025", Outcome.OK) for _ in range(5)],
    ]
    assert format_table(results).splitlines() == [
        "| Model | N | OK | 1011 | empty_turn |",
        "| --- | --- | --- | --- | --- |",
        "| latest | 10 | 1/10 | 8/10 | 1/10 |",
        "| 09-2025 | 5 | 5/5 | 0/5 | 0/5 |",
        "",
        "Recovery after a failed turn: fresh ok 8",
    ]


def test_build_target_defaults_to_the_real_v1beta_endpoint() -> None:
    target = build_target(model="gemini-3.8-live", url=None, key="AIzaCANARY-repr")
    assert (target.url, target.endpoint, target.auth, target.text_path) == (
        GEMINI_V1BETA_URL, "gemini-api", AuthKind.HEADER, TextPath.CLIENT_CONTENT,
    )  # fmt: skip
    assert target.api_key.get_secret_value() == "AIzaCANARY-repr"
    assert "AIzaCANARY-repr" not in repr(target)


def test_build_target_labels_vertex() -> None:
    url = "wss://aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
    model = "projects/p/locations/global/publishers/google/models/gemini-live-2.5-flash-native-audio"
    assert build_target(model=model, url=url, key="t", auth="bearer").endpoint == "vertex"


def test_load_setup_accepts_both_forms(tmp_path: Path) -> None:
    inner = tmp_path / "inner.json"
    inner.write_text('{"generationConfig": {"responseModalities": ["AUDIO"]}}')
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text('{"setup": {"generationConfig": {"responseModalities": ["AUDIO"]}}}')
    assert (
        load_setup(str(inner))
        == load_setup(str(wrapped))
        == {"generationConfig": {"responseModalities": ["AUDIO"]}}
    )


def test_load_setup_names_the_file_and_the_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(TargetError, match=r"--setup .*broken\.json: not valid JSON"):
        load_setup(str(broken))
