"""Exposition cost of /metrics with 100 jobs, and what a scrape does to the event loop.

    .venv/bin/python -m benchmarks.metrics_bench [--jobs 100] [--scrapes 5]

Registers `--jobs` (model, probe) jobs (2 probes per model), observes a few realistic turns for each, then:
1. times the text and OpenMetrics encoders (size, lines, median time);
2. serves the registry twice on 127.0.0.1 (ephemeral ports) — our `/metrics` (encoding in a worker thread) and
   prometheus-client's `make_aiohttp_handler` (encoding on the loop) — scrapes each `--scrapes` times with
   Prometheus' Accept header, and reports the worst lateness a 5 ms ticker on the server's loop saw.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import ProbeKind
from monitor.store.records import Store
from monitor.web.app import build_app
from tests.history import ENDPOINT, incident_000_failure, ok_turn

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
NOW = datetime(2026, 5, 27, 18, tzinfo=UTC)


class _Healthy:
    def check(self) -> HealthStatus:
        return HealthStatus(healthy=True, detail={})


def filled_registry(jobs: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    models = [
        ModelInfo(f"gemini-2.5-flash-native-audio-model-{i:03d}", "gemini-2.5", False)
        for i in range(jobs // 2)
    ]
    probes = [ProbeKind.TEXT, ProbeKind.AUDIO]
    metrics.register_targets(ENDPOINT, models, probes)
    for info in models:
        for probe in probes:
            for minute in range(5):
                at = NOW + timedelta(minutes=minute)
                metrics.observe(ok_turn(at, model=info.model, probe=probe))
            metrics.observe(incident_000_failure(NOW, model=info.model, probe=probe))
    return registry


def time_encoder(name: str, encode: Callable[[], bytes]) -> None:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        body = encode()
        runs.append(time.perf_counter() - started)
    lines = body.count(b"\n")
    print(f"{name}: {len(body) / 1e6:.2f} MB, {lines} lines, median {statistics.median(runs) * 1e3:.0f} ms")


async def worst_stall_while_scraping(app: web.Application, scrapes: int) -> float:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - due)

    tick = asyncio.create_task(ticker())
    # The scraper runs in another thread (as Prometheus runs in another process), so its reading and
    # decompressing does not count against the server's loop.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )

    def scrape() -> None:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    try:
        for _ in range(scrapes):
            await asyncio.to_thread(scrape)
        if not scrapes:
            await asyncio.sleep(3)  # the same ticker on an idle loop: this machine's noise floor
    finally:
        done.set()
        await tick
        await runner.cleanup()
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=5)
    args = parser.parse_args()
    when = f"{datetime.now(UTC):%Y-%m-%d}"
    print(f"{platform.node()} {platform.machine()} python {platform.python_version()} {when}")
    registry = filled_registry(args.jobs)
    time_encoder("text 0.0.4", lambda: generate_latest(registry))
    time_encoder("OpenMetrics", lambda: generate_openmetrics(registry))
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "records.db")
        ours = build_app(registry=registry, store=store, health=_Healthy())
        stall = asyncio.run(worst_stall_while_scraping(ours, args.scrapes))
        print(
            f"our /metrics (worker thread): worst loop stall {stall * 1e3:.0f} ms over {args.scrapes} scrapes"
        )
        idle = build_app(registry=registry, store=store, health=_Healthy())
        floor = asyncio.run(worst_stall_while_scraping(idle, 0))
        print(f"idle loop, same ticker, 3 s: worst lateness {floor * 1e3:.0f} ms")
        theirs = web.Application()
        theirs.router.add_get("/metrics", make_aiohttp_handler(registry))
        stall = asyncio.run(worst_stall_while_scraping(theirs, args.scrapes))
        print(f"make_aiohttp_handler (on the loop): worst loop stall {stall * 1e3:.0f} ms")
        store.close()


if __name__ == "__main__":
    main()
