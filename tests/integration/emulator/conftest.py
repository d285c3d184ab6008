"""Fixtures: a real emulator on an ephemeral loopback port, built from an inline scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from monitor.emulator import RunningEmulator, Scenario, start_emulator


def scenario(**fields: Any) -> Scenario:
    return Scenario.model_validate({"name": "test", **fields})


EmulatorFactory = Callable[..., AbstractAsyncContextManager[RunningEmulator]]


@pytest.fixture(name="emulator")
async def _emulator() -> AsyncIterator[RunningEmulator]:
    """The healthy emulator with no latency."""
    async with start_emulator(scenario(), latency_scale=0.0, seed=7) as running:
        yield running


@pytest.fixture(name="emulator_with")
def _emulator_with() -> EmulatorFactory:
    """start_emulator for an inline scenario: `async with emulator_with(faults=[...]) as e:`."""

    def start(*, latency_scale: float = 0.0, seed: int = 7, **fields: Any) -> Any:
        options = {k: fields.pop(k) for k in ("clock", "onset_seconds", "tls_dir") if k in fields}
        return start_emulator(scenario(**fields), latency_scale=latency_scale, seed=seed, **options)

    return start
