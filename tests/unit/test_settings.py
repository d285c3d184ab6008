"""Settings: file + environment precedence, keys, setup payloads, the targets built, the demo fallback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.config.settings import ConfigError, describe, load_settings, parse_duration
from monitor.probe.outcome import ProbeKind
from monitor.probe.target import AuthKind, PhaseBudgets, TextPath

SECRET = "AIzaSy-unit-test-secret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LIVE_MONITOR_") or name in ("GEMINI_API_KEY", "GEMINI_API_KEY_FILE"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(60, 60.0), ("90s", 90.0), ("3m", 180.0), ("250ms", 0.25), ("1h", 3600.0), ("0", 0.0), (2.5, 2.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "5 minutes", True, "1e3s"])
def test_bad_durations_name_the_rule(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration like"):
        parse_duration(text)


def test_environment_overrides_the_file_section_by_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "models: [{id: m1}, {id: m2}]\nprobes: {interval: 60s, kinds: [text]}\nvantage: file\n",
    )
    monkeypatch.setenv("LIVE_MONITOR_PROBES__INTERVAL", "120s")
    monkeypatch.setenv("LIVE_MONITOR_VANTAGE", "env")
    settings = load_settings(path)
    assert settings.probes.interval == 120.0
    assert settings.probes.kinds == [ProbeKind.TEXT]  # the rest of the section still comes from the file
    assert settings.vantage == "env"


def test_the_config_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVE_MONITOR_CONFIG", write(tmp_path, "models: [{id: from-env}]\n"))
    assert [m.id for m in load_settings(None).models] == ["from-env"]


def test_key_from_file_wins_and_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("GEMINI_API_KEY", "from-the-environment")
    path = write(
        tmp_path,
        f"endpoints: [{{name: gemini-api, api_key_file: {key_file}, auth: query}}]\nmodels: [{{id: m}}]\n",
    )
    settings = load_settings(path)
    target, _ = settings.targets()[0]
    assert target.api_key.get_secret_value() == SECRET
    assert target.auth is AuthKind.QUERY
    for text in (repr(settings), str(settings.model_dump()), describe(settings), repr(target)):
        assert SECRET not in text
    assert settings.missing_keys() == []


def test_key_from_the_environment_and_missing_key_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "models: [{id: m}]\n")
    assert load_settings(path).missing_keys() == [
        "endpoints[0]: no API key for 'gemini-api': set $GEMINI_API_KEY or api_key_file (or run with --demo)"
    ]
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    assert load_settings(path).targets()[0][0].api_key.get_secret_value() == SECRET


def test_key_from_a_docker_secret_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$GEMINI_API_KEY_FILE (the compose real monitor) beats $GEMINI_API_KEY; an unreadable one is named."""
    secret = tmp_path / "gemini_api_key"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    path = write(tmp_path, "models: [{id: m}]\n")
    monkeypatch.setenv("GEMINI_API_KEY", "from-the-environment")
    monkeypatch.setenv("GEMINI_API_KEY_FILE", str(secret))
    settings = load_settings(path)
    assert settings.targets()[0][0].api_key.get_secret_value() == SECRET
    assert SECRET not in describe(settings)
    monkeypatch.setenv("GEMINI_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert f"$GEMINI_API_KEY_FILE: cannot read '{tmp_path / 'missing'}': No such file or directory" in str(
        error.value
    )


def test_targets_carry_every_setting(tmp_path: Path) -> None:
    (tmp_path / "setup.json").write_text(
        json.dumps({"setup": {"model": "models/m2", "generationConfig": {"responseModalities": ["AUDIO"]}}}),
        encoding="utf-8",
    )
    path = write(
        tmp_path,
        """
vantage: us-west-a
models:
  - {id: m1, alias: true, family: fam}
  - {id: m2, text_path: realtime_input, setup: setup.json, probes: [audio]}
probes:
  kinds: [text, tool]
  interval: 30s
  timeouts: {connect: 1s, setup: 2s, first_response: 3s, turn: 4s}
  pace_audio: false
""",
    )
    settings = load_settings(path)
    plan = [(t.model, k) for t, k in settings.targets()]
    assert plan == [("m1", ProbeKind.TEXT), ("m1", ProbeKind.TOOL), ("m2", ProbeKind.AUDIO)]
    target = settings.targets()[2][0]
    assert target.text_path is TextPath.REALTIME_INPUT
    assert target.setup == {"model": "models/m2", "generationConfig": {"responseModalities": ["AUDIO"]}}
    assert target.budgets == PhaseBudgets(connect=1.0, setup=2.0, first_response=3.0, turn=4.0)
    assert target.vantage == "us-west-a"
    assert target.pace_audio is False
    assert settings.models[0].family == "fam"
    assert settings.models[1].family == "m2"  # defaults to the id
    demo_url = "ws://127.0.0.1:1/ws/x"
    repointed = settings.targets(url=demo_url, api_key=SecretStr("emulator-key"))
    assert {t.url for t, _ in repointed} == {demo_url}


def test_demo_falls_back_to_the_built_in_config_only_when_no_file_was_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/monitor.yaml here
    settings = load_settings(None, demo=True)
    assert [m.id for m in settings.models] == [
        "gemini-2.5-flash-native-audio-latest",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "gemini-3.1-flash-live-preview",
        "gemini-3.8-live",
    ]
    assert settings.demo.onset == 180.0
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    assert raised.value.problems == ("config/monitor.yaml: file not found",)
    with pytest.raises(ConfigError):
        load_settings("named.yaml", demo=True)  # named but missing: an error, even with --demo


def test_environment_sections_as_json_merge_with_their_keys_and_names_are_case_insensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A section as JSON and a key of it as its own variable combine; lower-case names work as upper-case."""
    path = write(tmp_path, "models: [{id: m1}]\nprobes: {interval: 60s, kinds: [text]}\n")
    monkeypatch.setenv("LIVE_MONITOR_PROBES", json.dumps({"timeouts": {"turn": "20s"}, "recover": False}))
    monkeypatch.setenv("LIVE_MONITOR_PROBES__KINDS", '["audio", "tool"]')
    monkeypatch.setenv("live_monitor_budgets__sessions_per_minute", "45")
    monkeypatch.setenv("LIVE_MONITOR_COMPOSE_TARGETS", "./config/compose/targets")  # the compose file's
    settings = load_settings(path)
    assert settings.probes.timeouts.turn == 20.0
    assert settings.probes.recover is False
    assert settings.probes.kinds == [ProbeKind.AUDIO, ProbeKind.TOOL]
    assert settings.probes.interval == 60.0  # from the file: the JSON section did not replace it
    assert settings.budgets.sessions_per_minute == 45


def test_every_problem_names_its_variable_and_all_are_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several bad variables: one ConfigError listing each, the file's own problems beside them."""
    path = write(tmp_path, "models: [{id: m1, colour: red}]\n")
    monkeypatch.setenv("LIVE_MONITOR_VANTAGE", "has space")
    monkeypatch.setenv("LIVE_MONITOR_BUDGETS__SESSIONS_PER_DAYS", "5")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert sorted(error.value.problems) == sorted(
        [
            "LIVE_MONITOR_VANTAGE: vantage: String should match pattern '^[A-Za-z0-9_.-]+$'",
            "LIVE_MONITOR_BUDGETS__SESSIONS_PER_DAYS: unknown key budgets.sessions_per_days "
            "(did you mean LIVE_MONITOR_BUDGETS__SESSIONS_PER_DAY?)",
            "models[0].colour: unknown key",
        ]
    )
