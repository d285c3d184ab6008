"""The probe limits: configured under probes.limits, carried by every target, refused when out of range."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config.settings import ConfigError, load_settings
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.probe.runner import longest_run
from monitor.probe.target import PhaseBudgets, ProbeLimits, ProbeTarget


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LIVE_MONITOR_") or name in ("GEMINI_API_KEY", "GEMINI_API_KEY_FILE"):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, limits: str) -> str:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"models: [{{id: m1}}]\nprobes:\n  limits: {limits}\n", encoding="utf-8")
    return str(path)


def test_every_target_carries_the_configured_limits(tmp_path: Path) -> None:
    """Each YAML key lands in ProbeLimits; `close` is a duration."""
    path = _config(
        tmp_path,
        "{audio_bytes: 100000, messages_kept: 7, frame_bytes: 70000, json_depth: 9, integer_digits: 12,"
        " record_bytes: 5000, close: 750ms}",
    )
    target = load_settings(path).targets()[0][0]
    assert target.limits == ProbeLimits(
        audio_bytes=100_000, messages_kept=7, frame_bytes=70_000, json_depth=9, integer_digits=12,
        record_bytes=5000, close_seconds=0.75,
    )  # fmt: skip


def test_the_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    """No limits section: ProbeLimits() (2 MiB audio, 100 messages, 4 MiB frames, depth 64, 18 digits)."""
    assert load_settings(_config(tmp_path, "{}")).targets()[0][0].limits == ProbeLimits()


@pytest.mark.parametrize(
    ("limits", "key"),
    [
        ("{integer_digits: 19}", "integer_digits"),  # would overflow a 64-bit counter
        ("{json_depth: 100000}", "json_depth"),  # deeper than the walk may recurse
        ("{frame_bytes: 10}", "frame_bytes"),
        ("{messages_kept: 0}", "messages_kept"),
        ("{close: 0s}", "close"),
        ("{frame_byte: 1}", "frame_byte"),
    ],
)
def test_out_of_range_limits_are_refused_naming_the_key(tmp_path: Path, limits: str, key: str) -> None:
    """check-config names the key of a limit out of its range, or a misspelt one."""
    with pytest.raises(ConfigError, match=f"probes.limits.{key}"):
        load_settings(_config(tmp_path, limits))


def test_messages_dropped_survives_the_record_round_trip() -> None:
    """`messages_dropped` is in the record only when non-zero, and from_record reads it back."""
    base = ProbeResult(
        run_id="r", started_at=datetime(2026, 1, 1, tzinfo=UTC), vantage="v", endpoint="e", model="m",
        probe=ProbeKind.TEXT, outcome=Outcome.TIMEOUT, messages=(("a", 0.0), ("~dropped", 1.0), ("b", 2.0)),
        messages_dropped=12345,
    )  # fmt: skip
    record = base.to_record()
    assert record["messages_dropped"] == 12345
    assert ProbeResult.from_record(record) == base
    assert "messages_dropped" not in ProbeResult.from_record({**record, "messages_dropped": 0}).to_record()


def test_longest_run_counts_a_goaway_reconnect_the_pacing_the_close_and_the_recovery() -> None:
    """Budgets 1/2/-/4 s, close 0.5 s: a session is 2 x 3.5 + 4 = 11 s; paced audio adds 40 x 0.1 s."""
    target = ProbeTarget(
        endpoint="e", url="ws://127.0.0.1:1/x", model="m",
        budgets=PhaseBudgets(connect=1.0, setup=2.0, first_response=3.0, turn=4.0),
        limits=ProbeLimits(close_seconds=0.5),
    )  # fmt: skip
    assert longest_run(target, ProbeKind.TEXT) == pytest.approx(22.0)
    assert longest_run(target, ProbeKind.AUDIO) == pytest.approx(
        26.0
    )  # activityStart, 38 chunks, activityEnd
    assert longest_run(replace(target, recover=False), ProbeKind.TEXT) == pytest.approx(11.0)
