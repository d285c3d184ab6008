"""The compose stack's promise, without Docker: two vantages probing one emulator page the provider, once.

As in docker-compose.yml: `live-monitor emulator` (seed-replay, onset 30 s here) runs as its own process, and
two `live-monitor run --demo` daemons with different vantages probe it through `demo.emulator_url`. Prometheus
runs the shipped config and rules with both monitors as targets, each with its vantage label; Alertmanager the
shipped routing. When the alias fails from every vantage, `GeminiLiveFailureGlobal` (the provider) must page,
`GeminiLiveFailureLocal` (one network path) must not fire, the per-vantage `GeminiLiveFailureBurst` alerts
must be inhibited by the global page in Alertmanager, and the pinned model must stay silent.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from .conftest import REPO, Server, StartPrometheus, Webhook, demo_daemon, printed, query

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
FAMILY = "gemini-2.5-flash-native-audio"
VANTAGES = ("eu-west", "us-east")
# As compose runs it, but on any free loopback port, with a 30 s onset and faster emulated latencies.
EMULATOR = ["emulator", "--host", "127.0.0.1", "--port", "0", "--scenario", "seed-replay", "--onset", "30"]
EMULATOR_TUNING = ["--latency-scale", "0.3", "--seed", "7"]


def monitor_config(store: Path) -> dict[str, Any]:
    return {
        "listen": "127.0.0.1:0",
        "models": [
            {"id": ALIAS, "family": FAMILY, "alias": True, "probes": ["text", "audio"]},
            {"id": PINNED, "family": FAMILY, "probes": ["text", "audio"]},
        ],
        "probes": {
            "interval": "4s",
            "timeouts": {"connect": "1s", "setup": "1s", "first_response": "1s", "turn": "2s"},
            "pace_audio": False,
            "recover": False,
        },
        "budgets": {"sessions_per_minute": 600, "sessions_per_day": 1000000, "max_concurrent_sessions": 10},
        "store": {"path": str(store)},
    }


@contextlib.contextmanager
def emulator(workdir: Path) -> Iterator[str]:
    """`live-monitor emulator` as compose runs it (loopback, any port, a shorter onset); its v1beta URL."""
    out = workdir / "emulator.out"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", *EMULATOR, *EMULATOR_TUNING],
            cwd=REPO,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        yield printed(process, out, r"v1beta\s+(ws://\S+)")
    finally:
        process.terminate()
        process.wait(timeout=15)


async def alertmanager_alerts(alertmanager: Server) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{alertmanager.url}/api/v2/alerts") as response,
    ):
        alerts: list[dict[str, Any]] = await response.json()
    return alerts


async def test_every_vantage_failing_pages_the_provider_once(
    tmp_path: Path, alertmanager: Server, webhook: Webhook, start_prometheus: StartPrometheus
) -> None:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(emulator(tmp_path))
        addresses = {}
        for vantage in VANTAGES:
            config = tmp_path / f"{vantage}.yaml"
            config.write_text(yaml.safe_dump(monitor_config(tmp_path / f"{vantage}.sqlite3")))
            env = {"LIVE_MONITOR_VANTAGE": vantage, "LIVE_MONITOR_DEMO__EMULATOR_URL": url}
            addresses[stack.enter_context(demo_daemon(config, env=env)).metrics_address] = vantage
        prometheus = await start_prometheus(addresses, alertmanager=alertmanager)

        def global_paged(notifications: list[dict[str, Any]]) -> bool:
            return any(a["labels"]["alertname"] == "GeminiLiveFailureGlobal" for a in webhook.alerts())

        await webhook.wait_for(global_paged, within=180)
        paged = {(a["labels"]["alertname"], a["labels"]["model"], a["_path"]) for a in webhook.alerts()}
        assert ("GeminiLiveFailureGlobal", ALIAS, "/alerts/page") in paged
        # Both vantages saw it: the bursts exist in Prometheus, one per vantage, and no vantage was "clean".
        bursts = await query(prometheus, f'ALERTS{{alertname="GeminiLiveFailureBurst", model="{ALIAS}"}}')
        assert {b["metric"]["vantage"] for b in bursts} == set(VANTAGES)
        assert await query(prometheus, 'ALERTS{alertname="GeminiLiveFailureLocal"}') == []
        # Alertmanager holds the per-vantage bursts back behind the global page (the shipped inhibit rule).
        held = [
            a
            for a in await alertmanager_alerts(alertmanager)
            if a["labels"]["alertname"] == "GeminiLiveFailureBurst" and a["labels"]["model"] == ALIAS
        ]
        assert held
        assert all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] for a in held), held
        # The pinned model never alerts, from either vantage.
        assert await query(prometheus, f'ALERTS{{model="{PINNED}"}}') == []
