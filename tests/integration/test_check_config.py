"""`live-monitor check-config` as a real subprocess: one invalid file per rule, each with its exact message.

Like blackbox_exporter's config tests: the files live in tests/data/config-invalid/, one per rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
    "bad-probe-kind.yaml": ["probes.kinds[1]: 'video' is not one of text, audio, tool"],
    "bad-text-path.yaml": ["models[0].text_path: 'websocket' is not one of client_content, realtime_input"],
    "bad-auth.yaml": ["endpoints[0].auth: 'headr' is not one of header, query, token, bearer"],
    "close-typos.yaml": [
        "probes.intervall: unknown key (did you mean 'interval'?)",
        "probs: unknown key (did you mean 'probes'?)",
    ],
    "duplicate-key.yaml": [
        f"{INVALID}/duplicate-key.yaml: invalid YAML at line 6, column 3: duplicate key 'interval' "
        "(first at line 5)"
    ],
    "interval-too-long.yaml": [
        "probes.interval: must be at most 1d (86400 s): a monitor probing less often sees no incident "
        "(got '3650000d')"
    ],
    "url-userinfo.yaml": [
        "endpoints[0].url: must not carry credentials (user:password@host): the key goes in api_key_env "
        "or api_key_file"
    ],
    "url-access-token.yaml": [
        "endpoints[0].url: must not carry credentials in its query (access_token=, key=): the key goes in "
        "api_key_env or api_key_file, and auth: query sends it as ?key= on the wire only"
    ],
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
    assert "SECRET" not in done.stdout + done.stderr  # a credential in a URL is refused, never repeated
    assert "Traceback" not in done.stderr


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
    assert (
        "LIVE_MONITOR_BUDGETS__SESSIONS_PER_MINUTES: unknown key budgets.sessions_per_minutes "
        "(did you mean LIVE_MONITOR_BUDGETS__SESSIONS_PER_MINUTE?)"
    ) in typo.stdout


ENV_CASES: dict[str, tuple[dict[str, str], str]] = {
    "not-json": (
        {"LIVE_MONITOR_PROBES__KINDS": "not-json"},
        "LIVE_MONITOR_PROBES__KINDS: probes.kinds takes JSON (a list or a section, e.g. "
        "'[\"text\", \"audio\"]'), got 'not-json': Expecting value at column 1",
    ),
    "top-level-typo": (
        {"LIVE_MONITOR_VANTAG": "us-west-a"},
        "LIVE_MONITOR_VANTAG: unknown key vantag (did you mean LIVE_MONITOR_VANTAGE?)",
    ),
    "single-underscore": (
        {"LIVE_MONITOR_PROBES_INTERVAL": "30s"},
        "LIVE_MONITOR_PROBES_INTERVAL: unknown key probes_interval "
        "(did you mean LIVE_MONITOR_PROBES__INTERVAL?)",
    ),
    "section-typo": (
        {"LIVE_MONITOR_PROBS__INTERVAL": "30s"},
        "LIVE_MONITOR_PROBS__INTERVAL: unknown key probs (did you mean LIVE_MONITOR_PROBES__INTERVAL?)",
    ),
    "bad-value": (
        {"LIVE_MONITOR_PROBES__INTERVAL": "3650000d"},
        "LIVE_MONITOR_PROBES__INTERVAL: probes.interval: must be at most 1d (86400 s): a monitor probing "
        "less often sees no incident (got '3650000d')",
    ),
    "bad-choice": (
        {"LIVE_MONITOR_PROBES__KINDS": '["text", "video"]'},
        "LIVE_MONITOR_PROBES__KINDS: probes.kinds[1]: 'video' is not one of text, audio, tool",
    ),
    "store-on-a-kernel-file-system": (
        {"LIVE_MONITOR_STORE__PATH": "/proc/sys/live-monitor/monitor.sqlite3"},
        "LIVE_MONITOR_STORE__PATH: store.path: cannot create directory '/proc/sys/live-monitor': "
        "'/proc/sys' is not writable here (permissions, or a kernel file system)",
    ),
}


@pytest.mark.parametrize(("env", "problem"), ENV_CASES.values(), ids=list(ENV_CASES))
def test_a_problem_from_the_environment_names_the_variable_and_exits_2(
    env: dict[str, str], problem: str
) -> None:
    done = check_config(env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert [line.strip() for line in done.stdout.splitlines()[1:]] == [problem]
    assert not done.stderr


def test_a_fifo_as_key_file_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO would block until a writer comes: the key file must be a regular file."""
    fifo = tmp_path / "gemini_api_key"
    os.mkfifo(fifo)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"endpoints:\n  - name: gemini-api\n    api_key_file: {fifo}\n"
        "models:\n  - id: gemini-3.1-flash-live-preview\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    from_file = check_config("-c", str(config))
    from_env = check_config(env={"GEMINI_API_KEY_FILE": str(fifo)})
    assert time.monotonic() - started < 30
    assert from_file.returncode == from_env.returncode == 2
    assert f"endpoints[0].api_key_file: cannot read '{fifo}': not a regular file (a FIFO)" in from_file.stdout
    assert f"$GEMINI_API_KEY_FILE: cannot read '{fifo}': not a regular file (a FIFO)" in from_env.stdout


def test_run_refuses_the_same_escapes_with_exit_2_and_no_traceback() -> None:
    """`run` validates exactly as check-config does: the variable named on stderr, exit 2, nothing started."""
    for env, problem in ENV_CASES.values():
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--demo", "--listen", "127.0.0.1:0"],
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")} | env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert problem in done.stderr
        assert "Traceback" not in done.stderr


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


VERTEX_URL = "wss://us-central1-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"


def test_a_fifo_or_a_device_as_credentials_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "sa.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a character device")):
        config = tmp_path / "monitor.yaml"
        config.write_text(
            f"endpoints:\n  - name: vertex\n    url: {VERTEX_URL}\n    auth: bearer\n"
            f"    credentials_file: {path}\nmodels:\n  - id: gemini-live-2.5-flash-native-audio\n",
            encoding="utf-8",
        )
        from_file = check_config("-c", str(config))
        assert from_file.returncode == 2, from_file.stdout + from_file.stderr
        assert f"credentials_file: cannot read '{path}': not a regular file ({kind})" in from_file.stdout
    assert time.monotonic() - started < 30


def test_a_key_with_a_line_break_is_refused_without_showing_it(tmp_path: Path) -> None:
    """A key file of two lines (or a pasted CR/LF) would fail every probe in aiohttp, counted as the
    provider's connect_error: refused at load time, the key never quoted."""
    key = tmp_path / "gemini_api_key"
    key.write_text("CANARY-first-line\nCANARY-second-line\n", encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"endpoints:\n  - name: gemini-api\n    api_key_file: {key}\n"
        "models:\n  - id: gemini-3.1-flash-live-preview\n",
        encoding="utf-8",
    )
    from_file = check_config("-c", str(config))
    from_env = check_config(env={"GEMINI_API_KEY": "CANARY-key\r\nX-Injected: 1"})
    assert from_file.returncode == from_env.returncode == 2
    assert (
        f"the API key from api_key_file {key} contains a line break (character 18 of 36); it must be one line"
        in from_file.stdout
    )
    assert "the API key from $GEMINI_API_KEY contains a line break (character 11 of 25)" in from_env.stdout
    assert "CANARY" not in from_file.stdout + from_file.stderr + from_env.stdout + from_env.stderr
    probe = subprocess.run(
        [sys.executable, "-m", "monitor", "probe", "--model", "m", "--url", "ws://127.0.0.1:9/x"],
        cwd=REPO, env={**os.environ, "GEMINI_API_KEY": "CANARY\x01"}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert probe.returncode == 2
    assert (
        probe.stderr.strip()
        == "live-monitor probe: GEMINI_API_KEY contains a control character (character 7 of 7)"
    )


def test_a_quota_project_with_a_line_break_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"endpoints:\n  - name: vertex\n    url: {VERTEX_URL}\n    auth: bearer\n"
        '    quota_project: "billing\\r\\nX-Evil: 1"\nmodels:\n  - id: gemini-live-2.5-flash-native-audio\n',
        encoding="utf-8",
    )
    done = check_config("-c", str(config), env={"CLOUDSDK_CONFIG": str(tmp_path / "no-gcloud")})
    assert done.returncode == 2
    assert (
        "endpoints[0].quota_project: must be one word: no space, line break or control character"
        in done.stdout
    )
