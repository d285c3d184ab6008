"""Cost of /metrics: series per job, milliseconds per scrape per 1,000 series, and the event loop's lag.

    .venv/bin/python -m benchmarks.metrics_bench [--jobs 1000] [--scrapes 40] [--concurrent 200]

Registers `--jobs` (model, probe) jobs (2 probes per model) and gives every job ok turns and an incident-000
failure with a resumed recovery, then serves the daemon's app (`build_app` with the `exposition` the daemon
passes) on 127.0.0.1. While a recorder on the server's loop records turns at the rate the jobs produce at a
60 s interval (`--jobs / 60` turns a second, so nearly every scrape finds the body stale and rebuilds it), a
scraper in another process (as Prometheus is) fetches `/metrics` with Prometheus' Accept and gzip headers,
one scrape after another, then `--concurrent` at once. A 1 ms ticker on the server's loop (the loop that takes
the probes' timing marks) records how late it wakes (wall clock: includes this shared machine's scheduling
noise, so it is also measured for 2 s before any scrape) and how much CPU the loop's thread spent between two
ticks (the longest stretch of work the loop did at once: what a scrape can block it for, without the
machine's noise). Side by side, on the same registry: prometheus-client's `generate_latest`, which every
scrape used to run.

Printed last: ms per scrape per 1,000 series (target <= 5) and the loop's longest busy stretch (<= 2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import platform
import random
import statistics
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor import eventloop
from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import ProbeKind
from monitor.probe.record import Recovery, RecoveryKind, RecoveryOutcome
from monitor.store.records import Store
from monitor.web.app import build_app
from tests.history import ENDPOINT, incident_000_failure, ok_turn

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
NOW = datetime(2026, 5, 27, 18, tzinfo=UTC)
PROBES = (ProbeKind.TEXT, ProbeKind.AUDIO)


class _Healthy:
    def check(self) -> HealthStatus:
        return HealthStatus(healthy=True, detail={})


def filled(jobs: int) -> tuple[CollectorRegistry, ProbeMetrics, list[ModelInfo]]:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    models = [
        ModelInfo(f"gemini-2.5-flash-native-audio-model-{i:04d}", "gemini-2.5", False)
        for i in range(max(1, jobs // 2))
    ]
    metrics.register_targets(ENDPOINT, models, PROBES)
    recovery = Recovery(kind=RecoveryKind.RESUMED, outcome=RecoveryOutcome.OK, seconds=1.2)
    for info in models:
        for probe in PROBES:
            for minute in range(5):
                metrics.observe(ok_turn(NOW + timedelta(minutes=minute), model=info.model, probe=probe))
            metrics.observe(incident_000_failure(NOW, model=info.model, probe=probe, recovery=recovery))
    return registry, metrics, models


def _scraper(url: str, scrapes: int, concurrent: int, results: Any) -> None:
    """Child process: sequential scrapes (each timed), then `concurrent` at once (total time)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}

    def scrape() -> tuple[float, int]:
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as response:
            size = len(response.read())
        return time.perf_counter() - started, size

    scrape()  # warm-up: the server's first request runs aiohttp's one-time set-up
    results.put("warm")
    time.sleep(0.5)
    times = []
    size = 0
    for _ in range(scrapes):
        took, size = scrape()
        times.append(took)
        time.sleep(0.05)
    results.put((times, size))
    time.sleep(0.5)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        list(pool.map(lambda _: scrape(), range(concurrent)))
    results.put(time.perf_counter() - started)


async def serve_and_scrape(
    metrics: ProbeMetrics, registry: CollectorRegistry, models: list[ModelInfo], args: argparse.Namespace
) -> tuple[list[float], int, float, tuple[float, float, float, float]]:
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "records.db")
        app = build_app(registry=registry, store=store, health=_Healthy(), exposition=metrics.exposition)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        done = asyncio.Event()
        lags: list[float] = []
        busy: list[float] = []

        async def ticker() -> None:
            while not done.is_set():
                due = time.perf_counter() + 0.001
                cpu = time.thread_time()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - due)
                busy.append(time.thread_time() - cpu)

        async def recorder() -> None:
            dice = random.Random(1)
            period = 60.0 / max(1, args.jobs)
            while not done.is_set():
                info = dice.choice(models)
                metrics.observe(ok_turn(NOW, model=info.model, probe=dice.choice(PROBES)))
                await asyncio.sleep(period)

        gc_pauses: list[float] = []
        gc_started = [0.0]

        def gc_watch(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_pauses.append(time.perf_counter() - gc_started[0])

        gc.callbacks.append(gc_watch)
        idle_tick = asyncio.create_task(ticker())
        await asyncio.sleep(2)  # the same ticker before any scrape: this machine's noise floor
        idle = _p(lags, 0.999)
        lags.clear()
        busy.clear()
        record = asyncio.create_task(recorder())
        context = mp.get_context("spawn")
        results = context.Queue()
        child = context.Process(
            target=_scraper, args=(f"http://127.0.0.1:{port}/metrics", args.scrapes, args.concurrent, results)
        )
        await asyncio.to_thread(child.start)  # not on the loop: spawning a process takes tens of ms
        await asyncio.to_thread(results.get)
        lags.clear()
        busy.clear()
        times, size = await asyncio.to_thread(results.get)
        sequential_busy, sequential_lag = max(busy), _p(lags, 0.999)
        busy.clear()
        concurrent_total = await asyncio.to_thread(results.get)
        await asyncio.to_thread(child.join)
        done.set()
        await idle_tick
        await record
        await runner.cleanup()
        store.close()
        gc.callbacks.remove(gc_watch)
        print(f"garbage collector: {len(gc_pauses)} runs, longest {max(gc_pauses, default=0) * 1e3:.1f} ms")
        return times, size, concurrent_total, (idle, sequential_lag, sequential_busy, max(busy))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=200)
    args = parser.parse_args()
    print(
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus python {platform.python_version()} "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}"
    )
    registry, metrics, models = filled(args.jobs)
    gc.freeze()  # as the daemon does once its jobs are registered (monitor/service.py)
    body = b"".join(asyncio.run(metrics.exposition.body()).chunks)
    series = sum(len(family.samples) for family in text_string_to_metric_families(body.decode()))
    per_job = Counter(
        (sample.labels["model"], sample.labels["probe"])
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if "probe" in sample.labels
    )
    print(
        f"{args.jobs} jobs: {series} series ({max(per_job.values())} per job, ok turns + a 1011 with a "
        f"resumed recovery), {len(body) / 1e6:.1f} MB text"
    )
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        generate_latest(registry)
        runs.append(time.perf_counter() - started)
    encode = statistics.median(runs)
    print(f"prometheus-client generate_latest (every scrape before): {encode * 1e3:.0f} ms per scrape")
    times, size, concurrent_total, (idle, lag, busy, concurrent_busy) = eventloop.run(  # the daemon's loop
        serve_and_scrape(metrics, registry, models, args)
    )
    median = statistics.median(times)
    print(
        f"/metrics, a turn recorded every {60 / max(1, args.jobs) * 1e3:.0f} ms: scrape median "
        f"{median * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms ({size / 1e6:.2f} MB gzipped); "
        f"{args.concurrent} concurrent scrapes in {concurrent_total:.2f} s (longest busy stretch of the loop "
        f"{concurrent_busy * 1e3:.1f} ms: {args.concurrent} requests handled back to back)"
    )
    print(
        f"loop wake-up lateness p99.9: {idle * 1e3:.2f} ms idle, {lag * 1e3:.2f} ms while scraping "
        "(wall clock, includes the machine's noise)"
    )
    print(
        f"per 1,000 series: {median * 1e3 / (series / 1000):.2f} ms per scrape "
        f"(generate_latest {encode * 1e3 / (series / 1000):.2f} ms); "
        f"longest busy stretch of the loop during one-at-a-time scrapes {busy * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
