"""`live-monitor check-config` as a real subprocess: one invalid file per rule, each with its exact message.

Like blackbox_exporter's config tests: the files live in tests/data/config-invalid/, one per rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config.demo import DEMO_CONFIG_YAML

REPO = Path(__file__).resolve().parents[2]
INVALID = Path("tests/data/config-invalid")

CASES: dict[str, list[str]] = {
    "unknown-key.yaml": ["models[0].colour: unknown key"],
    "bad-interval.yaml": ["probes.interval: must be a duration like 60, '60s' or '2m' (got '-5s')"],
    "quota-exceeded.yaml": [
        "budgets.sessions_per_minute: schedule needs 4 models x 3 probes x 60/60 s = 12 sessions/min "
        "(+ up to 12 recoveries) but budgets.sessions_per_minute is 10"
    ],
    "quota-per-day.yaml": [
        "budgets.sessions_per_day: schedule needs 1 model x 2 probes x 86400/60 s = 2880 sessions/day "
        "(+ up to 2880 recoveries) but budgets.sessions_per_day is 140"
    ],
    "timeouts-exceed-interval.yaml": [
        "probes.timeouts: connect 10 s + setup 10 s + turn 30 s = 50 s exceed probes.interval 30 s "
        "(a probe must finish before its next run is due)"
    ],
    "first-response-exceeds-turn.yaml": [
        "probes.timeouts: first_response 20 s exceeds turn 10 s (the first response is part of the turn)"
    ],
    "missing-key-file.yaml": [
        "endpoints[0].api_key_file: cannot read '/nonexistent/gemini_api_key': No such file or directory"
    ],
    "bad-setup-json.yaml": [
        f"models[0].setup: invalid JSON in '{INVALID}/bad-setup.json': Expecting property name enclosed in "
        "double quotes (line 3, column 56)"
    ],
    "setup-wrong-model.yaml": [
        f"models[0].setup: '{INVALID}/wrong-model-setup.json' names model "
        "'models/gemini-2.5-flash-native-audio-preview-09-2025' but this model is "
        "'models/gemini-2.5-flash-native-audio-latest'"
    ],
    "duplicate-model.yaml": [
        "models[2].id: duplicate model 'gemini-2.5-flash-native-audio-latest' on endpoint 'gemini-api' "
        "(first at models[0])"
    ],
    "bad-listen.yaml": ["listen: must be HOST:PORT with a port 0-65535 (got 'localhost')"],
    "bad-url.yaml": [
        "endpoints[0].url: must be a ws:// or wss:// URL (got 'https://generativelanguage.googleapis.com/v1beta')"
    ],
    "unknown-endpoint.yaml": ["models[0].endpoint: unknown endpoint 'vertex' (defined: gemini-api)"],
    "bad-probe-kind.yaml": ["probes.kinds[1]: Input should be 'text', 'audio' or 'tool'"],
    "bad-text-path.yaml": ["models[0].text_path: Input should be 'client_content' or 'realtime_input'"],
    "no-models.yaml": ["models: required"],
    "retention-inverted.yaml": [
        "store.retention: failure_days 7 is shorter than success_days 30 "
        "(failures are the evidence; keep them at least as long)"
    ],
    "bad-yaml.yaml": [
        f"{INVALID}/bad-yaml.yaml: invalid YAML at line 3, column 4: "
        "expected <block end>, but found '<block mapping start>'"
    ],
    "many-problems.yaml": [
        "listen: must be HOST:PORT with a port 0-65535 (got '0.0.0.0:99999')",
        "models[0].alias: Input should be a valid boolean, unable to interpret input",
        "probes.interval: must be a duration like 60, '60s' or '2m' (got 'soon')",
        "budgets.max_concurrent_sessions: Input should be greater than or equal to 1",
    ],
}


def check_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_") and k != "GEMINI_API_KEY"
    }
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", *args],
        cwd=REPO,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_invalid_file_has_a_case() -> None:
    assert {p.name for p in (REPO / INVALID).glob("*.yaml")} == set(CASES)


@pytest.mark.parametrize(("name", "problems"), sorted(CASES.items()))
def test_invalid_config_prints_every_problem_with_its_path_and_exits_2(
    name: str, problems: list[str]
) -> None:
    done = check_config("-c", str(INVALID / name))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()[1:]]
    assert lines == problems
    assert done.stdout.splitlines()[0] == f"{INVALID / name}: {len(problems)} problem(s)"


def test_the_shipped_example_is_valid_and_summarised() -> None:
    done = check_config()
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("config/monitor.yaml: OK\n")
    assert "15 probe jobs every 60 s" in done.stdout
    assert "no API key for 'gemini-api'" in done.stdout  # a note, not an error: --demo needs no key


def test_environment_overrides_the_file_and_is_validated_too() -> None:
    done = check_config(env={"LIVE_MONITOR_PROBES__INTERVAL": "5s"})
    assert done.returncode == 2
    assert (
        "probes.timeouts: connect 10 s + setup 10 s + turn 30 s = 50 s exceed probes.interval 5 s"
        in done.stdout
    )
    typo = check_config(env={"LIVE_MONITOR_BUDGETS__SESSIONS_PER_MINUTES": "5"})
    assert typo.returncode == 2
    assert "budgets.sessions_per_minutes: unknown key" in typo.stdout


def test_config_file_from_the_environment_and_a_missing_file() -> None:
    done = check_config(env={"LIVE_MONITOR_CONFIG": str(INVALID / "bad-listen.yaml")})
    assert done.returncode == 2
    assert "listen: must be HOST:PORT" in done.stdout
    missing = check_config("-c", "no/such/file.yaml")
    assert missing.returncode == 2
    assert "no/such/file.yaml: file not found" in missing.stdout


def test_the_key_never_appears_in_the_output(tmp_path: Path) -> None:
    secret = "AIzaSy-test-secret-never-printed"
    done = check_config(env={"GEMINI_API_KEY": secret})
    assert done.returncode == 0
    assert secret not in done.stdout + done.stderr
    assert "no API key" not in done.stdout


def test_the_shipped_example_is_the_built_in_demo_config() -> None:
    shipped = (REPO / "config/monitor.yaml").read_text(encoding="utf-8")
    assert shipped == DEMO_CONFIG_YAML
    assert yaml.safe_load(shipped)["models"][0] == {
        "id": "gemini-2.5-flash-native-audio-latest",
        "family": "gemini-2.5-flash-native-audio",
        "alias": True,
    }
