"""Real Prometheus (shipped config and rules) scraping a real ProbeMetrics exporter, Alertmanager, webhook.

The exporter is the monitor's own `ProbeMetrics` on a prometheus_client registry, served over aiohttp on an
ephemeral port: the label contract between the exporter and the rules is exercised, not restated. Two models
are registered (every alert-read series pre-created at 0); after a healthy warm-up, one of them has a 1011
burst. GeminiLiveFailureBurst must reach the webhook's page receiver for that model only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import count

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult

from .conftest import Server, StartPrometheus, Webhook, query

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BAD, GOOD = "gemini-2.5-flash-native-audio-latest", "gemini-2.5-flash-native-audio-preview-09-2025"
_run_ids = count()


def turn(model: str, *, failed: bool) -> ProbeResult:
    common = {
        "run_id": f"run-{next(_run_ids)}",
        "started_at": datetime.now(UTC),
        "vantage": "e2e",
        "endpoint": "gemini-api",
        "model": model,
        "probe": ProbeKind.TEXT,
    }
    if failed:
        return ProbeResult(
            **common,
            outcome=Outcome.SERVER_CLOSE,
            cause=Cause.INTERNAL,
            code=1011,
            phase=Phase.FIRST_RESPONSE,
            close_reason="Internal error encountered.",
            close_initiator="server",
            timings={TimingPhase.CONNECT: 0.01, TimingPhase.SETUP: 0.2, TimingPhase.FAILURE: 1.1},
        )
    return ProbeResult(
        **common,
        outcome=Outcome.OK,
        timings={TimingPhase.CONNECT: 0.01, TimingPhase.SETUP: 0.2, TimingPhase.FIRST_RESPONSE: 0.4},
    )


@pytest.fixture
async def exporter() -> AsyncIterator[tuple[str, ProbeMetrics]]:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.register_targets(
        "gemini-api",
        [
            ModelInfo(BAD, "gemini-2.5-flash-native-audio", True),
            ModelInfo(GOOD, "gemini-2.5-flash-native-audio", False),
        ],
        [ProbeKind.TEXT, ProbeKind.AUDIO],
    )

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"127.0.0.1:{port}", metrics
    await runner.cleanup()


async def wait_scraped(prometheus: Server, samples: int, within: float = 30) -> None:
    """Waits until Prometheus holds `samples` scrapes of the pre-created (still zero) counters."""
    expr = f'count_over_time(gemini_live_probe_turns_total{{model="{BAD}",outcome="ok",probe="text"}}[5m])'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        result = await query(prometheus, expr)
        if result and float(result[0]["value"][1]) >= samples:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Prometheus did not scrape the exporter {samples} times in {within} s")


async def test_failure_burst_of_one_model_pages_for_that_model_only(
    exporter: tuple[str, ProbeMetrics],
    alertmanager: Server,
    webhook: Webhook,
    start_prometheus: StartPrometheus,
) -> None:
    target, metrics = exporter
    prometheus = await start_prometheus([target], alertmanager=alertmanager, vantage="e2e")
    await wait_scraped(prometheus, samples=3)

    # Warm-up: 10 healthy turns each, so the minimum-turn guard (>= 6 turns in 5m) is met by real turns.
    for _ in range(10):
        metrics.observe(turn(BAD, failed=False))
        metrics.observe(turn(GOOD, failed=False))
    await asyncio.sleep(3)
    assert await query(prometheus, 'ALERTS{alertstate="firing"}') == []

    # The burst: 6 of BAD's turns close with 1011 while GOOD stays healthy.
    for _ in range(6):
        metrics.observe(turn(BAD, failed=True))
        metrics.observe(turn(GOOD, failed=False))

    def burst_paged(notifications: list[dict[str, object]]) -> bool:
        return any(a["labels"]["alertname"] == "GeminiLiveFailureBurst" for a in webhook.alerts())

    # Scrape (1 s) + rule evaluation (1 s) + Alertmanager group_wait (1 s), with slack for 2 shared cores.
    await webhook.wait_for(burst_paged, within=30)
    await asyncio.sleep(3)  # would a second alert follow?

    firing = webhook.alerts()
    assert {(a["labels"]["alertname"], a["labels"]["model"]) for a in firing} == {
        ("GeminiLiveFailureBurst", BAD)
    }
    (alert,) = {a["fingerprint"]: a for a in firing}.values()
    assert alert["_path"] == "/alerts/page"
    assert alert["labels"]["severity"] == "page"
    assert alert["labels"]["vantage"] == "e2e"
    assert alert["annotations"]["description"].startswith(f"{BAD} (gemini-api, vantage e2e): ")
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbook.md#geminilivefailureburst")
    (notification,) = [n for n in webhook.notifications if n["status"] == "firing"]
    assert notification["groupLabels"] == {"alertname": "GeminiLiveFailureBurst", "model": BAD}
    assert await query(prometheus, f'ALERTS{{model="{GOOD}"}}') == []
