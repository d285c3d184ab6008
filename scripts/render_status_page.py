"""Render docs/status-page.png: the status page over a simulated demo-like day, in headless Chromium.

    .venv/bin/python -m scripts.render_status_page docs/status-page.png

The history is incident 000's shape: the pinned 09-2025 model clean all day; the -latest alias and the
preview-12-2025 it points at failing ~1% with 1011 until 17:05 UTC, then ~85%. The newest alias failure is
opened with `?open=<run_id>` so the picture shows an expanded wire trace.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.store.records import Store
from monitor.web.app import build_app
from tests.browser import open_browser
from tests.history import ALIAS, ENDPOINT, PINNED, PREVIEW, simulate_history

NOW = datetime(2026, 5, 27, 18, 30, 5, tzinfo=UTC)
FAMILY = "gemini-2.5-flash-native-audio"
MODELS = [
    ModelInfo(PINNED, FAMILY, alias=False),
    ModelInfo(ALIAS, FAMILY, alias=True),
    ModelInfo(PREVIEW, FAMILY, False),
]


class _FixedClock:
    def monotonic(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return NOW


class _Healthy:
    def check(self) -> HealthStatus:
        return HealthStatus(healthy=True, detail={})


async def render(output: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "records.db")
        start = NOW - timedelta(hours=24)
        onset = int((datetime(2026, 5, 27, 17, 5, tzinfo=UTC) - start).total_seconds() // 60)
        models = [PINNED, ALIAS, PREVIEW]
        registry = CollectorRegistry()
        metrics = ProbeMetrics(registry)
        metrics.register_targets(ENDPOINT, MODELS, [ProbeKind.TEXT, ProbeKind.AUDIO])
        # The daemon's order: store, then metrics (they feed the regime tracker the "since when" reads).
        for result in simulate_history(start, 24 * 60, onset_minute=onset, models=models):
            store.append(result)
            metrics.observe(result)
        app = build_app(
            registry=registry, store=store, health=_Healthy(), clock=_FixedClock(), models=MODELS,
            regimes=metrics.regimes,
        )  # fmt: skip
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        newest = store.query(
            model=ALIAS, probe=ProbeKind.TEXT, outcomes=[Outcome.SERVER_CLOSE], limit=1, newest_first=True
        )[0]
        try:
            async with open_browser(width=1280, height=1500) as browser:
                await browser.navigate(f"http://127.0.0.1:{port}/?open={newest.run_id}")
                await browser.screenshot(output)
        finally:
            await runner.cleanup()
            store.close()


if __name__ == "__main__":
    asyncio.run(render(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/status-page.png")))
