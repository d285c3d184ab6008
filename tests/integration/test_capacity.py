"""More probe turns a minute than one daemon runs (10,000 models) is refused by check-config, naming why."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from monitor.config.checks import MAX_TURNS_PER_MINUTE, capacity_problems
from monitor.config.settings import MonitorSettings

REPO = Path(__file__).resolve().parents[2]


def _config(models: int, interval: str = "60s") -> dict[str, object]:
    return {
        "models": [{"id": f"gemini-model-{i:05d}", "family": "f"} for i in range(models)],
        "probes": {
            "interval": interval,
            "kinds": ["text", "audio"],
            "timeouts": {"connect": "2s", "setup": "2s", "first_response": "5s", "turn": "10s"},
        },
        "budgets": {"sessions_per_minute": 100_000, "sessions_per_day": 1_000_000_000},
    }


def test_ten_thousand_models_are_refused_at_check_time(tmp_path: Path) -> None:
    """`check-config` exits 2 within seconds with one line naming the rate, the limit and sharding."""
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(_config(10_000)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "-c", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "models: 20000 probe jobs every 60 s is 20,000 probe turns a minute" in output
    assert f"one daemon runs at most {MAX_TURNS_PER_MINUTE:,}" in output
    assert "Sharding" in output
    assert "Traceback" not in output
    assert took < 30


def test_the_limit_is_on_turns_a_minute_not_on_models() -> None:
    """1,000 jobs a minute pass; the same every 20 s (3,000 a minute) do not; 4,000 every 2 minutes pass."""
    assert capacity_problems(MonitorSettings.model_validate(_config(500))) == []
    assert capacity_problems(MonitorSettings.model_validate(_config(2_000, "2m"))) == []
    with pytest.raises(ValueError, match="3,000 probe turns a minute"):
        MonitorSettings.model_validate(_config(500, "20s"))
