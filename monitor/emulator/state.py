"""EmulatorState: what every connection of one emulator shares (scenario, models, dice, clock, handles, and
the credentials it issued: OAuth access tokens and ephemeral tokens)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

from monitor.clock import Clock
from monitor.emulator.models import MODELS, ModelCapabilities
from monitor.emulator.oauth import OAuthIssuer
from monitor.emulator.resumption import Handles
from monitor.emulator.scenarios import Scenario
from monitor.emulator.tokens import TokenLedger

__all__ = ["EmulatorState", "apply_overrides"]


def apply_overrides(scenario: Scenario) -> dict[str, ModelCapabilities]:
    """The capability table with the scenario's per-model overrides applied."""
    table = dict(MODELS)
    for name, override in scenario.models.items():
        if override.retired:
            del table[name]
            continue
        changes: dict[str, Any] = {
            k: v for k, v in override.model_dump(exclude={"retired", "latency"}).items() if v is not None
        }
        if override.latency is not None:
            ranges = {k: v for k, v in override.latency.model_dump().items() if v is not None}
            changes["latency"] = dataclasses.replace(table[name].latency, **ranges)
        table[name] = dataclasses.replace(table[name], **changes)
    return table


@dataclass(slots=True)
class EmulatorState:
    scenario: Scenario
    clock: Clock
    rng: random.Random
    onset: float  # seconds after start when "onset" windows open
    latency_scale: float
    started: float = 0.0  # clock.monotonic() at start
    models: dict[str, ModelCapabilities] = field(default_factory=dict)
    handles: Handles = field(init=False)
    oauth: OAuthIssuer = field(init=False)
    tokens: TokenLedger = field(init=False)
    # Running connection handlers, cancelled at shutdown so that a hang never outlives the server.
    handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.handles = Handles(self.clock)
        self.oauth = OAuthIssuer(self.clock, self.scenario.access_token_lifetime_seconds)
        self.tokens = TokenLedger(self.clock)
        self.models = apply_overrides(self.scenario)
        self.started = self.clock.monotonic()

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def switch_scenario(self, scenario: Scenario, *, onset: float | None = None) -> None:
        """Serve `scenario` from now on (a session already open sees it from its next step): for chaos runs
        that change the fault every few seconds. Call it on the emulator's event loop."""
        self.scenario = scenario
        self.models = apply_overrides(scenario)
        if onset is not None:
            self.onset = onset
