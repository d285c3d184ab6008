"""Scenario files: every shipped one loads, lookup by name works, each invalid file gets its exact error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.emulator import ScenarioError, load_scenario, scenario_names
from monitor.emulator.scenarios import Fault, Scenario, Window
from monitor.emulator.state import apply_overrides

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "config" / "scenarios").glob("*.yaml"))
INVALID = ROOT / "tests" / "data" / "scenarios-invalid"
KNOWN_MODELS = (
    "gemini-2.5-flash-native-audio-latest, gemini-2.5-flash-native-audio-preview-09-2025, "
    "gemini-2.5-flash-native-audio-preview-12-2025, gemini-3.1-flash-live-preview, gemini-3.8-live, "
    "gemini-live-2.5-flash-native-audio"
)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(str(path))
    assert scenario.name == path.stem
    assert scenario.description


def test_scenarios_are_found_by_name() -> None:
    """By name, as the daemon's --demo asks for seed-replay with no file around."""
    assert {p.stem for p in SHIPPED} <= set(scenario_names())
    assert load_scenario("seed-replay").name == "seed-replay"


def test_the_packaged_copy_is_the_same_directory() -> None:
    """monitor/emulator/data/scenarios resolves to config/scenarios (a symlink the wheel build copies)."""
    packaged = ROOT / "monitor" / "emulator" / "data" / "scenarios"
    assert packaged.resolve() == (ROOT / "config" / "scenarios").resolve()


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario named 'nope' \(known: bad-key, "):
        load_scenario("nope")


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match=r"^missing\.yaml: no such scenario file$"):
        load_scenario("missing.yaml")


def _in(name: str, message: str) -> tuple[str, str]:
    return name, f"{INVALID / name}: {message}"


INVALID_CASES = [
    _in("unknown-top-level-key.yaml", "fautls: unknown key (did you mean 'faults'?)"),
    _in("unknown-fault-key.yaml", "faults[0].colour: unknown key"),
    _in("close-without-code.yaml", "faults[0]: a close fault needs `code`"),
    _in(
        "http-status-mid-stream.yaml",
        "faults[0]: kind http_status cannot strike at mid_stream "
        "(allowed: oauth_token, token_service, upgrade)",
    ),
    _in("unknown-model.yaml", f"faults[0]: unknown model 'gemini-9-live' (known: {KNOWN_MODELS})"),
    _in("probability-above-one.yaml", "faults[0].probability: Input should be less than or equal to 1"),
    _in(
        "bad-window-edge.yaml",
        "faults[0].windows[0].start: a window edge is seconds after start (>= 0), 'onset', "
        "or an ISO 8601 UTC time, not 'sometime'",
    ),
    _in(
        "naive-window-time.yaml",
        "faults[0].windows[0].start: the time 2026-05-27 18:00:00 needs a UTC offset, "
        "e.g. 2026-05-27T18:00:00Z",
    ),
    _in(
        "upgrade-fault-with-models.yaml",
        "faults[0]: a fault at the upgrade cannot select models or sessions: both are known only from setup",
    ),
    _in("not-a-mapping.yaml", "a scenario must be a mapping of fields"),
    _in(
        "bad-expected-outcome.yaml",
        "expect[0].outcome: 'fine' is not one of ok, server_close, connection_lost, handshake_rejected, "
        "connect_error, credentials_error, timeout, protocol_error, empty_turn, validation_failed, "
        "prober_error",
    ),
    _in(
        "unknown-fault-kind.yaml",
        "faults[0].kind: 'explode' is not one of close, http_status, hang, tcp_drop, malformed_frame, "
        "empty_turn, silent_audio, slow_pong, goaway, delay",
    ),
    _in("delay-reversed.yaml", "faults[0]: delay_ms must be [low, high] with 0 <= low <= high"),
    _in(
        "bad-capability-override.yaml",
        "models.gemini-3.8-live.client_content: Input should be a valid boolean, unable to interpret input",
    ),
]


@pytest.mark.parametrize(("name", "message"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_invalid_scenario_gets_its_exact_message(name: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(INVALID / name))
    assert str(caught.value) == message


def test_invalid_yaml_names_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"bad-yaml\.yaml: cannot read scenario: while parsing"):
        load_scenario(str(INVALID / "bad-yaml.yaml"))


def test_every_invalid_file_is_in_the_table() -> None:
    covered = {name for name, _ in INVALID_CASES} | {"bad-yaml.yaml"}
    assert {p.name for p in INVALID.glob("*.yaml")} == covered


NOW = datetime(2026, 5, 27, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "elapsed", "now", "active"),
    [
        ({"start": 10, "end": 20}, 9.99, NOW, False),
        ({"start": 10, "end": 20}, 10, NOW, True),
        ({"start": 10, "end": 20}, 20, NOW, False),
        ({"start": "onset"}, 299, NOW, False),
        ({"start": "onset"}, 300, NOW, True),
        ({"end": "onset"}, 299, NOW, True),
        ({"start": "2026-05-27T18:00:00Z"}, 0, NOW, False),
        ({"start": "2026-05-27T18:00:00Z"}, 0, datetime(2026, 5, 27, 18, 0, tzinfo=UTC), True),
        ({"start": "2026-05-27T19:00:00+01:00"}, 0, datetime(2026, 5, 27, 18, 0, tzinfo=UTC), True),
    ],
)
def test_window_membership(window: dict[str, object], elapsed: float, now: datetime, active: bool) -> None:
    assert Window.model_validate(window).contains(elapsed, now, onset=300) is active


def test_probability_outside_every_window_is_zero() -> None:
    fault = Fault.model_validate(
        {"kind": "close", "code": 1011, "probability": 0.9, "windows": [{"start": 5, "probability": 0.4}]}
    )
    assert fault.probability_at(1, NOW, 300) == 0.0
    assert fault.probability_at(6, NOW, 300) == 0.4
    no_windows = Fault.model_validate({"kind": "close", "code": 1011, "probability": 0.9})
    assert no_windows.probability_at(1, NOW, 300) == 0.9


def test_seed_replay_encodes_both_incidents() -> None:
    """Incident 000 on -latest and -preview-12-2025 (1% then 85% at onset), incident 001 on 3.1."""
    scenario = load_scenario("seed-replay")
    regression, mid_call = scenario.faults
    assert set(regression.models) == {
        "gemini-2.5-flash-native-audio-latest",
        "gemini-2.5-flash-native-audio-preview-12-2025",
    }
    assert regression.probability_at(10, NOW, scenario.onset_seconds) == 0.01
    assert regression.probability_at(scenario.onset_seconds, NOW, scenario.onset_seconds) == 0.85
    assert (regression.code, regression.reason_text) == (1011, "Internal error encountered.")
    assert regression.delay_ms == (200, 3000)
    assert mid_call.models == ["gemini-3.1-flash-live-preview"]
    assert (mid_call.sessions, mid_call.handle_before) == ("fresh", True)
    assert all("gemini-2.5-flash-native-audio-preview-09-2025" not in f.models for f in scenario.faults)


def test_model_rule_overrides_apply() -> None:
    """A scenario can give gemini-3.8-live back its thinking config or make its calls BLOCKING by default."""
    overrides = {
        "thinking_config": True,
        "default_function_behavior": "BLOCKING",
        "proactive_audio_always": False,
    }
    table = apply_overrides(Scenario.model_validate({"name": "t", "models": {"gemini-3.8-live": overrides}}))
    caps = table["gemini-3.8-live"]
    assert (caps.thinking_config, caps.default_function_behavior, caps.proactive_audio_always) == (
        True,
        "BLOCKING",
        False,
    )
    assert table["gemini-3.1-flash-live-preview"].client_content is True, "today's 3.1 by default"
    with pytest.raises(ValueError, match="default_function_behavior"):
        Scenario.model_validate(
            {"name": "t", "models": {"gemini-3.8-live": {"default_function_behavior": "X"}}}
        )
