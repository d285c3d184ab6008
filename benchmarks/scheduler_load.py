"""Scheduler load: 100 (model, probe) jobs on the emulator: schedule lag, CPU per probe, latency inflation.

    .venv/bin/python benchmarks/scheduler_load.py [--load-interval 10] [--duration 60] [--baseline 30]

The real daemon path runs in this process: ProbeScheduler (APScheduler), run_probe over real sockets, the
SQLite store's writer thread, ProbeMetrics and the JSON log lines (rendered, then discarded). The
emulators run in a child process, so their CPU is not charged to the monitor (it still competes for the
machine's cores, like any noisy neighbour).

Two emulators:
- the load emulator has the models' normal latencies (setup 200-400 ms, first response 400-900 ms, chunks);
- the witness emulator adds a fixed 0 ms latency, so a witness probe's first_response/first_audio is pure
  measurement path (our client + loopback + the emulator's processing) and any inflation shows undiluted.

Phase 1 (baseline): the 2 witness jobs alone (text and audio, every `--witness-interval` s). Phase 2: the
same 2 witness jobs plus 98 load jobs (17 endpoints x 3 native-audio models x text/audio, see `load_jobs`)
every `--load-interval` seconds, i.e. 100 jobs. Reported: schedule lag p50/p99/max over phase 2 (due time to
start, from APScheduler's scheduled_run_time), process CPU seconds per completed probe in phase 2, and the
witness probes' first_response/first_audio p50/p95 in phase 1 vs phase 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor import eventloop
from monitor.daemon.metrics import ProbeMetrics
from monitor.daemon.scheduler import ProbeJob, ProbeScheduler, SessionBudgets
from monitor.log import configure_logging
from monitor.probe.outcome import ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeTarget
from monitor.store.records import Store

MODELS = (
    "gemini-2.5-flash-native-audio-latest",
    "gemini-2.5-flash-native-audio-preview-12-2025",
    "gemini-2.5-flash-native-audio-preview-09-2025",
)
WITNESS_MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
KEY = SecretStr("emulator-key")
BUDGETS = PhaseBudgets(connect=2.0, setup=2.0, first_response=3.0, turn=5.0)


def _emulators(queue: Any, stop: Any) -> None:
    """Child process: the load and witness emulators on one loop; reports ports, then its CPU at the end."""
    from monitor.emulator import load_scenario, start_emulator  # noqa: PLC0415

    async def serve() -> None:
        scenario = load_scenario("healthy")
        async with (
            start_emulator(scenario, latency_scale=1.0, seed=1) as load,
            start_emulator(scenario, latency_scale=0.0, seed=2) as witness,
        ):
            queue.put((load.url, witness.url))
            await asyncio.to_thread(stop.wait)
        queue.put(time.process_time())

    asyncio.run(serve())


class RecordingMetrics(ProbeMetrics):
    """ProbeMetrics that also keeps every raw schedule lag (the histogram's buckets are too coarse)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.lags: list[float] = []
        self.results: list[ProbeResult] = []

    def observe_schedule_lag(self, seconds: float) -> None:
        self.lags.append(seconds)
        super().observe_schedule_lag(seconds)

    def observe(self, result: ProbeResult) -> None:
        self.results.append(result)
        super().observe(result)


def witness_jobs(url: str) -> list[ProbeJob]:
    target = ProbeTarget(endpoint="witness", url=url, model=WITNESS_MODEL, api_key=KEY, budgets=BUDGETS)
    return [ProbeJob(target, ProbeKind.TEXT), ProbeJob(target, ProbeKind.AUDIO)]


def load_jobs(url: str, count: int) -> list[ProbeJob]:
    """`count` distinct jobs: endpoints load-00.. x the native-audio models x text/audio."""
    jobs: list[ProbeJob] = []
    index = 0
    while len(jobs) < count:
        endpoint = f"load-{index // (len(MODELS) * 2):02d}"
        model = MODELS[(index // 2) % len(MODELS)]
        kind = (ProbeKind.TEXT, ProbeKind.AUDIO)[index % 2]
        target = ProbeTarget(endpoint=endpoint, url=url, model=model, api_key=KEY, budgets=BUDGETS)
        jobs.append(ProbeJob(target, kind))
        index += 1
    return jobs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def witness_latency(results: list[ProbeResult]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for kind in (ProbeKind.TEXT, ProbeKind.AUDIO):
        for phase in (TimingPhase.FIRST_RESPONSE, TimingPhase.FIRST_AUDIO):
            values = [
                r.timings[phase]
                for r in results
                if r.endpoint == "witness" and r.probe is kind and phase in r.timings
            ]
            summary[f"{kind.value}.{phase.value}"] = {
                "n": len(values),
                "p50_ms": percentile(values, 50) * 1000,
                "p95_ms": percentile(values, 95) * 1000,
                "mean_ms": statistics.fmean(values) * 1000 if values else float("nan"),
            }
    return summary


async def run_phase(schedulers: list[ProbeScheduler], seconds: float) -> tuple[float, float]:
    """Run the schedulers for `seconds`; return (process CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.monotonic()
    for scheduler in schedulers:
        await scheduler.start()
    await asyncio.sleep(seconds)
    for scheduler in schedulers:
        await scheduler.stop(grace=BUDGETS.total)
    return time.process_time() - cpu, time.monotonic() - wall


async def oversleep(samples: list[float], stop: asyncio.Event) -> None:
    """How late a plain 50 ms asyncio sleep wakes up: the loop's and the OS's share of any schedule lag."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.05
        await asyncio.sleep(0.05)
        samples.append(loop.time() - due)


def make_scheduler(
    jobs: list[ProbeJob], interval: float, http: aiohttp.ClientSession, store: Store, metrics: ProbeMetrics
) -> ProbeScheduler:
    async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
        return await run_probe(target, kind, http=http, run_id=run_id)

    return ProbeScheduler(
        jobs,
        interval=interval,
        probe=probe,
        store=store,
        metrics=metrics,
        budgets=SessionBudgets(
            sessions_per_minute=100_000, sessions_per_day=10_000_000, max_concurrent_sessions=100
        ),
        start_delay=0.5,
    )


async def benchmark(args: argparse.Namespace, load_url: str, witness_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        try:
            async with aiohttp.ClientSession() as http:
                base_metrics = RecordingMetrics(CollectorRegistry())
                alone = make_scheduler(
                    witness_jobs(witness_url), args.witness_interval, http, store, base_metrics
                )
                base_over: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(oversleep(base_over, stop))
                base_cpu, base_wall = await run_phase([alone], args.baseline)
                stop.set()
                await sampler

                load_metrics = RecordingMetrics(CollectorRegistry())
                witness = make_scheduler(
                    witness_jobs(witness_url), args.witness_interval, http, store, load_metrics
                )
                load = make_scheduler(
                    load_jobs(load_url, args.jobs - 2), args.load_interval, http, store, load_metrics
                )
                load_over: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(oversleep(load_over, stop))
                load_cpu, load_wall = await run_phase([witness, load], args.duration)
                stop.set()
                await sampler
        finally:
            store.close()
    lags = load_metrics.lags
    probes = len(load_metrics.results)
    outcomes: dict[str, int] = {}
    for r in load_metrics.results:
        outcomes[r.outcome.value] = outcomes.get(r.outcome.value, 0) + 1
    return {
        "jobs": args.jobs,
        "load_interval_s": args.load_interval,
        "witness_interval_s": args.witness_interval,
        "phase2_seconds": round(load_wall, 1),
        "probes_completed": probes,
        "outcomes": outcomes,
        "lag_ms": {
            "n": len(lags),
            "p50": percentile(lags, 50) * 1000,
            "p99": percentile(lags, 99) * 1000,
            "max": max(lags) * 1000 if lags else float("nan"),
        },
        "lag_ms_1_job_phase": {
            "n": len(base_metrics.lags),
            "p50": percentile(base_metrics.lags, 50) * 1000,
            "p99": percentile(base_metrics.lags, 99) * 1000,
        },
        "oversleep_ms": {
            "1_job_p50": percentile(base_over, 50) * 1000,
            "1_job_p99": percentile(base_over, 99) * 1000,
            "100_jobs_p50": percentile(load_over, 50) * 1000,
            "100_jobs_p99": percentile(load_over, 99) * 1000,
            "100_jobs_max": max(load_over) * 1000 if load_over else float("nan"),
        },
        "cpu_ms_per_probe": load_cpu / probes * 1000 if probes else float("nan"),
        "cpu_ms_per_probe_1_job": base_cpu / max(1, len(base_metrics.results)) * 1000,
        "process_cpu_share_phase2": load_cpu / load_wall,
        "witness_1_job": witness_latency(base_metrics.results),
        "witness_100_jobs": witness_latency(load_metrics.results),
        "baseline_seconds": round(base_wall, 1),
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_1m_at_start": os.getloadavg()[0],
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"machine: {result['machine']}",
        f"phase 2: {result['jobs']} jobs ({result['jobs'] - 2} load jobs every "
        f"{result['load_interval_s']:g} s + 2 witness jobs every {result['witness_interval_s']:g} s) "
        f"for {result['phase2_seconds']} s: {result['probes_completed']} probes, "
        f"outcomes {result['outcomes']}",
        f"schedule lag: p50 {result['lag_ms']['p50']:.2f} ms, p99 {result['lag_ms']['p99']:.2f} ms, "
        f"max {result['lag_ms']['max']:.2f} ms (n={result['lag_ms']['n']}); target p99 < 50 ms",
        f"schedule lag with 1 job (phase 1): p50 {result['lag_ms_1_job_phase']['p50']:.2f} ms, "
        f"p99 {result['lag_ms_1_job_phase']['p99']:.2f} ms (n={result['lag_ms_1_job_phase']['n']})",
        "plain asyncio.sleep(0.05) oversleep, 1 job vs 100 jobs: p50 "
        f"{result['oversleep_ms']['1_job_p50']:.2f} / {result['oversleep_ms']['100_jobs_p50']:.2f} ms, p99 "
        f"{result['oversleep_ms']['1_job_p99']:.2f} / {result['oversleep_ms']['100_jobs_p99']:.2f} ms, max "
        f"under 100 jobs {result['oversleep_ms']['100_jobs_max']:.2f} ms",
        f"CPU per probe: {result['cpu_ms_per_probe']:.2f} ms under 100 jobs, "
        f"{result['cpu_ms_per_probe_1_job']:.2f} ms with 1 job; monitor process used "
        f"{result['process_cpu_share_phase2'] * 100:.1f} % of one core in phase 2",
        "witness latency (emulator adds a fixed 0 ms): 1 job vs 100 jobs",
        "| probe.timing | n (1 job) | p50 1 job | p50 100 jobs | inflation p50 | p95 1 job | p95 100 jobs |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, one in result["witness_1_job"].items():
        many = result["witness_100_jobs"][key]
        lines.append(
            f"| {key} | {one['n']}/{many['n']} | {one['p50_ms']:.2f} ms | {many['p50_ms']:.2f} ms | "
            f"{many['p50_ms'] - one['p50_ms']:+.2f} ms | {one['p95_ms']:.2f} ms | {many['p95_ms']:.2f} ms |"
        )
    lines.append(f"emulator child process CPU: {result['emulator_cpu_s']:.1f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--load-interval", type=float, default=10.0, help="seconds (production default: 60)")
    parser.add_argument("--witness-interval", type=float, default=3.0, help="seconds")
    parser.add_argument("--duration", type=float, default=60.0, help="phase 2 seconds")
    parser.add_argument("--baseline", type=float, default=30.0, help="phase 1 seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the monitor side into FILE")
    args = parser.parse_args()
    configure_logging(stream=open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as we do

    context = mp.get_context("spawn")
    queue = context.Queue()
    stop = context.Event()
    child = context.Process(target=_emulators, args=(queue, stop), daemon=True)
    child.start()
    load_url, witness_url = queue.get(timeout=60)
    info = machine()
    try:
        if args.profile:
            import cProfile  # noqa: PLC0415

            with cProfile.Profile() as profiler:
                result = eventloop.run(benchmark(args, load_url, witness_url))
            profiler.dump_stats(args.profile)
        else:
            result = eventloop.run(benchmark(args, load_url, witness_url))
    finally:
        stop.set()
    result["emulator_cpu_s"] = queue.get(timeout=30)
    child.join(timeout=10)
    info["loadavg_1m_at_end"] = os.getloadavg()[0]
    result["machine"] = info
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
