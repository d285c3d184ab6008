"""The daemon at 1,000 jobs, 60 s interval, on the emulator: schedule lag, CPU, RSS, /metrics, status page.

    .venv/bin/python benchmarks/daemon_scale.py [--jobs 1000] [--interval 60] [--duration 180]

The daemon's own path runs in this process, as `live-monitor run` wires it: ProbeScheduler (APScheduler) over
`--jobs` (model, probe) jobs (endpoints load-000.. x the three native-audio models x text/audio, all on one
emulator), run_probe over real sockets, the SQLite store's writer thread, ProbeMetrics with every job
registered, and the web app (`build_app` with the cached exposition) on 127.0.0.1. After registration the
process freezes its start-up objects out of the garbage collector's reach (`gc.freeze()`), as the daemon does.
The emulator (normal model latencies) runs in a child process, so its CPU is not charged to the monitor.

A scraper in another process (as Prometheus and a browser are) fetches `/metrics` (Prometheus' Accept, gzip)
every `--scrape-interval` seconds and the status page `/` every 10 s, timing each. Measured after the first
interval (by then every job has run once and the store holds a turn per job): schedule lag (due time to start,
raw values, not buckets), the process's CPU share of one core, its RSS (current and peak), and the scrapes'
and status page's times. A 1 ms ticker on the loop records its longest busy stretch.

Printed last: schedule lag p99, CPU %, RSS and the /metrics and status page times against the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scheduler_load import (
    MODELS,
    _emulators,
    load_jobs,
    machine,
    make_scheduler,
    oversleep,
    percentile,
)
from monitor import eventloop
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.log import configure_logging
from monitor.probe.outcome import ProbeKind
from monitor.probe.record import ProbeResult
from monitor.store.records import Store
from monitor.web.app import build_app

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class CountingMetrics(ProbeMetrics):
    """ProbeMetrics that also keeps every raw schedule lag and counts outcomes (it keeps no results: a
    daemon holds none, and thousands of records alive would make the collector's passes the benchmark's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.lags: list[float] = []
        self.outcomes: dict[str, int] = {}

    def observe_schedule_lag(self, seconds: float) -> None:
        self.lags.append(seconds)
        super().observe_schedule_lag(seconds)

    def observe(self, result: ProbeResult) -> None:
        self.outcomes[result.outcome.value] = self.outcomes.get(result.outcome.value, 0) + 1
        super().observe(result)


def _scraper(base: str, scrape_interval: float, seconds: float, results: Any) -> None:
    """Child process: /metrics every scrape_interval, / every 10 s, for `seconds`; each timed."""
    metrics_times: list[float] = []
    page_times: list[float] = []
    sizes: list[int] = []
    ends = time.monotonic() + seconds
    next_page = time.monotonic()
    while time.monotonic() < ends:
        started = time.perf_counter()
        request = urllib.request.Request(
            f"{base}/metrics", headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            sizes.append(len(response.read()))
        metrics_times.append(time.perf_counter() - started)
        if time.monotonic() >= next_page:
            started = time.perf_counter()
            with urllib.request.urlopen(f"{base}/", timeout=60) as response:
                response.read()
            page_times.append(time.perf_counter() - started)
            next_page += 10
        time.sleep(max(0.0, scrape_interval - (time.perf_counter() - started)))
    results.put((metrics_times, page_times, sizes))


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "records.db")
        registry = CollectorRegistry()
        metrics = CountingMetrics(registry)
        jobs = load_jobs(url, args.jobs)
        for endpoint in sorted({job.target.endpoint for job in jobs}):
            models = [ModelInfo(model, "gemini-2.5", model.endswith("-latest")) for model in MODELS]
            metrics.register_targets(endpoint, models, [ProbeKind.TEXT, ProbeKind.AUDIO])
        app = build_app(registry=registry, store=store, health=_Healthy(), exposition=metrics.exposition)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        gc.freeze()
        busy: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                cpu = time.thread_time()
                await asyncio.sleep(0.001)
                busy.append(time.thread_time() - cpu)

        async with aiohttp.ClientSession() as http:
            scheduler = make_scheduler(jobs, args.interval, http, store, metrics)
            await scheduler.start()
            tick = asyncio.create_task(ticker())
            await asyncio.sleep(args.interval)  # every job has run once; the store holds a turn per job
            metrics.lags.clear()
            busy.clear()
            pauses: list[float] = []
            started_gc = [0.0]

            def gc_watch(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    started_gc[0] = time.perf_counter()
                else:
                    pauses.append(time.perf_counter() - started_gc[0])

            gc.callbacks.append(gc_watch)
            late: list[float] = []
            stop_sampling = asyncio.Event()
            sampler = asyncio.create_task(oversleep(late, stop_sampling))
            context = mp.get_context("spawn")
            results = context.Queue()
            measured = args.duration - args.interval
            child = context.Process(
                target=_scraper, args=(f"http://127.0.0.1:{port}", args.scrape_interval, measured, results)
            )
            await asyncio.to_thread(child.start)
            cpu, wall = time.process_time(), time.monotonic()
            rss: list[float] = []
            ends = wall + measured
            while time.monotonic() < ends:
                await asyncio.sleep(1)
                rss.append(_rss_mb())
            cpu_share = (time.process_time() - cpu) / (time.monotonic() - wall)
            metrics_times, page_times, sizes = await asyncio.to_thread(results.get)
            await asyncio.to_thread(child.join)
            gc.callbacks.remove(gc_watch)
            stop_sampling.set()
            await sampler
            body = await metrics.exposition.body()
            series = sum(1 for line in b"".join(body.chunks).splitlines() if not line.startswith(b"#"))
            done.set()
            await tick
            await scheduler.stop(grace=10)
        await runner.cleanup()
        store.close()
    return {
        "probes": sum(metrics.outcomes.values()),
        "outcomes": metrics.outcomes,
        "gc_pauses": pauses,
        "oversleep": late,
        "lag": metrics.lags,
        "cpu_share": cpu_share,
        "rss_mb": rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "metrics_s": metrics_times,
        "page_s": page_times,
        "gzip_bytes": statistics.median(sizes) if sizes else 0,
        "series": series,
        "busy": max(busy, default=0.0),
    }


class _Healthy:
    def check(self) -> Any:
        from monitor.daemon.health import HealthStatus  # noqa: PLC0415

        return HealthStatus(healthy=True, detail={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument(
        "--duration", type=float, default=180.0, help="seconds, the first interval unmeasured"
    )
    parser.add_argument("--scrape-interval", type=float, default=15.0)
    args = parser.parse_args()
    configure_logging(stream=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as we do
    context = mp.get_context("spawn")
    queue = context.Queue()
    stop = context.Event()
    child = context.Process(target=_emulators, args=(queue, stop), daemon=True)
    child.start()
    load_url, _ = queue.get(timeout=60)
    info = machine()
    try:
        result = eventloop.run(run(args, load_url))  # the daemon's loop
    finally:
        stop.set()
    emulator_cpu = queue.get(timeout=30)
    child.join(timeout=10)
    lag = result["lag"]
    print(f"machine: {info}, load average at end {os.getloadavg()[0]:.1f}")
    print(
        f"{args.jobs} jobs every {args.interval:g} s for {args.duration:g} s: {result['probes']} probes, "
        f"outcomes {result['outcomes']}; emulator child used {emulator_cpu:.1f} s CPU"
    )
    scrapes, pages = result["metrics_s"], result["page_s"]
    print(
        f"/metrics: {result['series']} series, {result['gzip_bytes'] / 1e6:.2f} MB gzipped; {len(scrapes)} "
        f"scrapes, median {statistics.median(scrapes) * 1e3:.1f} ms, max {max(scrapes) * 1e3:.1f} ms; "
        f"loop's longest busy stretch {result['busy'] * 1e3:.1f} ms"
    )
    print(
        f"status page: {len(pages)} loads, median {statistics.median(pages) * 1e3:.0f} ms, "
        f"max {max(pages) * 1e3:.0f} ms"
    )
    pauses, late = result["gc_pauses"], result["oversleep"]
    print(
        f"garbage collector: {len(pauses)} runs, longest {max(pauses, default=0) * 1e3:.1f} ms; a plain "
        f"asyncio.sleep(0.05) on the loop woke late by p50 {percentile(late, 50) * 1e3:.1f} ms, p99 "
        f"{percentile(late, 99) * 1e3:.1f} ms (the machine's and the loop's share of any lag)"
    )
    print(
        f"schedule lag p50 {percentile(lag, 50) * 1e3:.1f} ms, p99 {percentile(lag, 99) * 1e3:.1f} ms "
        f"(target < 50 ms, n={len(lag)}); CPU {result['cpu_share'] * 100:.1f} % of one core (target < 25 %); "
        f"RSS {statistics.median(result['rss_mb']):.0f} MB, peak {result['peak_rss_mb']:.0f} MB "
        f"(target < 400 MB); /metrics max {max(scrapes) * 1e3:.0f} ms; status page max "
        f"{max(pages) * 1e3:.0f} ms (target < 300 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
