"""Store figures for docs/store.md: bytes per record, growth per model-year, append latency, page reads.

    .venv/bin/python -m benchmarks.store_bench [--jobs 100] [--scratch DIR]

1. Growth: one model x 3 probes (text, audio, tool) x 1/min for 7 simulated days, incident-000-like (1%
   1011s, then an ~85% onset for the last day), into a fresh store; file size after a WAL checkpoint /
   records, scaled to 3 probes x 525,600 min.
2. Append latency: 2,000 single-record `append` calls (one fsynced transaction each, synchronous=FULL),
   and the worst event-loop stall seen by a 5 ms ticker while the same appends go through `append_async`,
   next to the stall the same ticker sees with nothing else running (this machine's noise floor).
3. Status page: `--jobs` (model, probe) jobs x 24 h at 1/min, then `collect_status` + `render_status_page`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.probe.outcome import ProbeKind
from monitor.store.records import Store
from monitor.web.status_page import collect_status, render_status_page
from tests.history import ALIAS, ok_turn, simulate_history

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
MINUTES_PER_YEAR = 525_600
PROBES = (ProbeKind.TEXT, ProbeKind.AUDIO, ProbeKind.TOOL)


def _file_bytes(store: Store) -> int:
    store.close()
    return store.path.stat().st_size  # closing checkpoints and removes the WAL


def growth(scratch: Path) -> None:
    days = 7
    minutes = days * 24 * 60
    store = Store(scratch / "growth.db")
    results = list(
        simulate_history(
            NOW - timedelta(minutes=minutes),
            minutes,
            onset_minute=minutes - 1440,
            models=(ALIAS,),
            probes=PROBES,
        )
    )
    store.append_many(results)
    failures = sum(not r.ok for r in results)
    json_bytes = statistics.mean(len(json.dumps(r.to_record(), separators=(",", ":"))) for r in results)
    size = _file_bytes(store)
    per_record = size / len(results)
    year = per_record * len(PROBES) * MINUTES_PER_YEAR
    print(f"growth: {len(results)} records ({failures} failures) in {size / 1e6:.1f} MB")
    print(f"  {per_record:.0f} bytes/record on disk (row + JSON + indexes); the JSON alone {json_bytes:.0f}")
    print(f"  per model-year (3 probes x 1/min): {year / 1e9:.2f} GB")


def append_latency(scratch: Path) -> None:
    store = Store(scratch / "latency.db")
    latencies = []
    for i in range(2000):
        result = ok_turn(NOW + timedelta(seconds=i))
        started = time.perf_counter()
        store.append(result)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    median, p99, worst = statistics.median(latencies), latencies[int(0.99 * len(latencies))], latencies[-1]
    print(f"append (sync): median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {worst * 1e3:.2f} ms")

    async def worst_stall(appends: int) -> float:
        worst = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            while not done.is_set():
                due = time.perf_counter() + 0.005
                await asyncio.sleep(0.005)
                worst = max(worst, time.perf_counter() - due)

        tick = asyncio.create_task(ticker())
        if appends:
            for i in range(appends):
                await store.append_async(ok_turn(NOW + timedelta(days=1, seconds=i)))
        else:
            await asyncio.sleep(2 * sum(latencies))
        done.set()
        await tick
        return worst

    stall = asyncio.run(worst_stall(2000))
    floor = asyncio.run(worst_stall(0))
    print(
        f"append_async: worst loop stall {stall * 1e3:.2f} ms (idle loop, same ticker: {floor * 1e3:.2f} ms)"
    )
    store.close()


def status_page(scratch: Path, jobs: int) -> None:
    store = Store(scratch / "status.db")
    models = [f"gemini-model-{i:02d}" for i in range(jobs // len(PROBES) + 1)]
    pairs = [(m, p) for m in models for p in PROBES][:jobs]
    start = NOW - timedelta(hours=24)
    batch = [
        ok_turn(start + timedelta(minutes=minute), model=model, probe=probe)
        for minute in range(1440)
        for model, probe in pairs
    ]
    store.append_many(batch)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        page = render_status_page(collect_status(store, NOW), now=NOW)
        runs.append(time.perf_counter() - started)
    print(
        f"status page over {len(batch)} records ({jobs} jobs x 24 h): "
        f"median {statistics.median(runs) * 1e3:.0f} ms, {len(page) / 1e3:.0f} kB of HTML"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--scratch", help="directory on the disk to measure (default: a temp dir)")
    args = parser.parse_args()
    when = f"{datetime.now(UTC):%Y-%m-%d}"
    print(f"{platform.node()} {platform.machine()} python {platform.python_version()} {when}")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        growth(Path(scratch))
        append_latency(Path(scratch))
        status_page(Path(scratch), args.jobs)


if __name__ == "__main__":
    main()
