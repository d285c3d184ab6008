"""Every scenario file through the real probe against the real emulator over real sockets.

Each scenario in config/scenarios/ carries the outcome the probe must record (`expect:`); this test runs
run_probe for each expectation and checks outcome, cause, code, phase, the message-sequence prefix and the
recovery. Emulator latency is scaled to zero and budgets are short so hangs cost well under a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from monitor.emulator import ScenarioError, load_scenario, scenario_names, start_emulator
from monitor.emulator.scenarios import Expectation
from monitor.probe.outcome import ProbeKind
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeTarget, TextPath

BUDGETS = PhaseBudgets(connect=1.0, setup=1.0, first_response=1.0, turn=2.0)
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"


def _cases() -> list[object]:
    cases: list[object] = []
    for name in scenario_names():
        try:
            expectations = load_scenario(name).expect
        except ScenarioError:
            cases.append(pytest.param(name, 0, id=f"{name}-invalid"))  # fails in the test, naming the error
            continue
        for index, expectation in enumerate(expectations):
            cases.append(
                pytest.param(name, index, id=f"{name}-{index}-{expectation.probe}-{expectation.outcome}")
            )
    return cases


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _target(url: str, base_url: str, expectation: Expectation) -> ProbeTarget:
    model = expectation.model
    if expectation.api == "vertex":
        url = base_url + VERTEX_PATH
        model = f"projects/emulator/locations/us-central1/publishers/google/models/{model}"
    return ProbeTarget(
        endpoint="vertex" if expectation.api == "vertex" else "gemini-api",
        url=url,
        model=model,
        api_key=SecretStr(expectation.api_key),
        text_path=TextPath(expectation.text_path or "client_content"),
        budgets=BUDGETS,
        pace_audio=False,
        recover=expectation.recovery is not None,
    )


@pytest.mark.parametrize(("name", "index"), _cases())
async def test_scenario_expectation(http: aiohttp.ClientSession, name: str, index: int) -> None:
    scenario = load_scenario(name)
    expectation = scenario.expect[index]
    onset = expectation.onset_seconds
    async with start_emulator(scenario, latency_scale=0.0, seed=1, onset_seconds=onset) as emulator:
        target = _target(emulator.url, emulator.base_url, expectation)
        result = await run_probe(target, ProbeKind(expectation.probe), http=http)
    got = (result.outcome, result.cause, result.code, result.phase)
    assert got == (expectation.outcome, expectation.cause, expectation.code, expectation.phase), result.detail
    # voiceActivity frames echo our own activityStart/End (realtime text under manual activity detection);
    # they are not part of a fault's wire pattern, which is what `messages` pins down.
    kinds = [kind for kind, _ in result.messages if kind != "voiceActivity"]
    assert kinds[: len(expectation.messages)] == expectation.messages
    if expectation.recovery is not None:
        assert result.recovery is not None
        assert result.recovery.kind.value == expectation.recovery
        if expectation.recovery_outcome is not None:
            assert result.recovery.outcome.value == expectation.recovery_outcome
