"""Every scenario file, run through the real probe (`run_probe`) against the real emulator over real sockets.

Each `expect` entry of each file in config/scenarios/ is one case: the probe must record the outcome, cause,
code and phase the scenario promises, and the server message sequence must start with its `messages`.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from monitor.emulator import load_scenario, start_emulator
from monitor.emulator.scenarios import Expectation
from monitor.emulator.state import apply_overrides
from monitor.probe.ephemeral import EphemeralTokens, TokenOptions
from monitor.probe.record import RecoveryKind, RecoveryOutcome
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeTarget, TextPath

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
CONSTRAINED_PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
# Short budgets: the hang scenarios end in a timeout, and a timeout must come quickly.
BUDGETS = PhaseBudgets(connect=1.5, setup=1.5, first_response=1.5, turn=3.0)


def _cases() -> list[object]:
    cases = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for index, expectation in enumerate(load_scenario(str(path)).expect):
            case_id = f"{path.stem}[{index}]-{expectation.model}-{expectation.probe}"
            cases.append(pytest.param(path, index, id=case_id))
    return cases


def test_every_scenario_file_has_expectations() -> None:
    """A scenario without `expect` would be silently untested."""
    for path in SCENARIOS.glob("*.yaml"):
        assert load_scenario(str(path)).expect, f"{path.name} has no expect entries"


@pytest.mark.parametrize(("path", "index"), _cases())
async def test_probe_records_what_the_scenario_expects(path: Path, index: int) -> None:
    scenario = load_scenario(str(path))
    expected: Expectation = scenario.expect[index]
    async with (
        start_emulator(
            scenario, latency_scale=0.0, seed=11, onset_seconds=expected.onset_seconds
        ) as emulator,
        aiohttp.ClientSession() as http,
    ):
        url = emulator.base_url + VERTEX_PATH if expected.api == "vertex" else emulator.url
        tokens = None
        if expected.auth == "token":  # as a browser's backend does: one token minted per session
            url = emulator.base_url + CONSTRAINED_PATH
            service = TokenOptions(
                service_url=emulator.http_url + "/v1alpha/auth_tokens", timeout_seconds=1.5
            )
            tokens = EphemeralTokens(expected.api_key, service)
        served = apply_overrides(scenario).get(expected.model)
        accepts_client_content = served is None or served.client_content
        text_path = expected.text_path or ("client_content" if accepts_client_content else "realtime_input")
        target = ProbeTarget(
            endpoint="emulator",
            url=url,
            model=expected.model,
            api_key=SecretStr(expected.api_key),
            credentials=tokens,
            text_path=TextPath(text_path),
            budgets=BUDGETS,
            pace_audio=False,
        )
        result = await run_probe(target, expected.probe, http=http)
    seen = (result.outcome, result.cause, result.code, result.phase)
    assert seen == (expected.outcome, expected.cause, expected.code, expected.phase), result.to_record()
    # voiceActivity frames echo our own activityStart/End (realtime text under manual activity detection);
    # they are not part of a fault's wire pattern, which is what `messages` pins down.
    kinds = [kind for kind, _ in result.messages if kind != "voiceActivity"]
    assert kinds[: len(expected.messages)] == expected.messages, kinds
    if expected.recovery is not None:
        assert result.recovery is not None
        assert result.recovery.kind is RecoveryKind(expected.recovery)
    if expected.recovery_outcome is not None:
        assert result.recovery is not None
        assert result.recovery.outcome is RecoveryOutcome(expected.recovery_outcome)
    assert expected.api_key not in str(result.to_record())
