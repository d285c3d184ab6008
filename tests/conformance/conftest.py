"""Fixtures: the emulator over wss behind the recording proxy, trusted the way a user trusts it.

`live_stack(scenario)` starts `start_emulator(..., tls_dir=...)` (what `live-monitor emulator
--tls-self-signed DIR` serves) and the recording proxy in front of it, and sets `SSL_CERT_FILE` to the proxy's
CA, as a user does for the emulator's CA. When the test ends, every frame recorded both ways is checked
against google-genai's message types, so no conformance test can forget to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.emulator import RunningEmulator, Scenario, load_scenario, start_emulator
from tests.conformance.frames import check_connection
from tests.conformance.proxy import Connection, RunningProxy, recording_proxy

WAIT_SECONDS = 10.0  # the emulator answers in well under a second at latency_scale 0
GEMINI_PATH = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"


@dataclass(frozen=True)
class LiveStack:
    emulator: RunningEmulator
    proxy: RunningProxy

    @property
    def base_url(self) -> str:
        return self.proxy.base_url

    @property
    def url(self) -> str:
        """The v1beta BidiGenerateContent URL through the proxy (what `live-monitor probe --url` takes)."""
        return self.proxy.ws_base + GEMINI_PATH.format("v1beta")

    @property
    def connections(self) -> list[Connection]:
        return self.proxy.connections

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait for `predicate` over the recorded traffic; an AssertionError showing the traffic otherwise."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await self.proxy.recorder.changes.until(predicate)
        except TimeoutError:
            raise AssertionError(f"{what} within {WAIT_SECONDS:g} s:\n{self.describe()}") from None

    def describe(self) -> str:
        """Every connection's frames as message kinds, for a failing test's message."""
        return "\n".join(describe(c) for c in self.connections)


def describe(connection: Connection) -> str:
    lines = [f"connection {connection.path.rsplit('/', 1)[-1]}:"]
    for frame in connection.frames:
        try:
            message = json.loads(frame.data)
        except ValueError:
            lines.append(f"  {frame.direction}: <not JSON, {len(frame.data)} bytes>")
            continue
        kinds = []
        for key, value in message.items():
            inner = sorted(value) if isinstance(value, dict) else []
            kinds.append(f"{key}{inner}" if inner and key != "setup" else key)
        lines.append(f"  {frame.direction}: {', '.join(kinds)}")
    lines.append(f"  closed: server {connection.server_close}, client {connection.client_close}")
    return "\n".join(_collapse(lines))


def _collapse(lines: list[str]) -> list[str]:
    """Runs of identical lines (audio chunks) as one line with a count."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].split(" x", 1)[0] == line:
            head, _, count = out[-1].partition(" x")
            out[-1] = f"{head} x{int(count or 1) + 1}"
        else:
            out.append(line)
    return out


StackFactory = Callable[..., AbstractAsyncContextManager[LiveStack]]


@pytest.fixture(name="live_stack")
def _live_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackFactory:
    """`async with live_stack("healthy") as stack:` (a scenario name, file or Scenario)."""

    @asynccontextmanager
    async def start(
        scenario: str | Scenario = "healthy", *, latency_scale: float = 0.0, **options: Any
    ) -> AsyncIterator[LiveStack]:
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        emulator_tls = tmp_path / "emulator-ca"
        async with (
            start_emulator(
                loaded, tls_dir=str(emulator_tls), latency_scale=latency_scale, seed=7, **options
            ) as emulator,
            recording_proxy(emulator.base_url, str(emulator_tls / "ca.pem"), tmp_path / "proxy-ca") as proxy,
        ):
            monkeypatch.setenv("SSL_CERT_FILE", proxy.ca_file)
            stack = LiveStack(emulator=emulator, proxy=proxy)
            yield stack
        for connection in stack.connections:
            check_connection(connection)

    return start


def scenario(**fields: Any) -> Scenario:
    return Scenario.model_validate({"name": "conformance", **fields})
