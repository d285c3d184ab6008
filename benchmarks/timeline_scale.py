"""Timeline over 1,000,000 probe records: regimes, onset intervals and the cross-model view.

    .venv/bin/python benchmarks/timeline_scale.py [--records 1000000] [--store PATH] [--json-path]
    .venv/bin/python benchmarks/timeline_scale.py --jsonl-only     # timeline --jsonl alone

Timed in memory:
- arrays: per-series (times, trials, failures, class counts) numpy arrays, what `build_timeline` consumes;
- records: ProbeResult objects through `series_from_records` (the path of `--jsonl` after parsing).
A third run puts every series at a 50% baseline: the most runs, where PELT's pruning is weakest
(changepoint.py then segments grouped bins and refines each change).

Timed end to end: `live-monitor timeline --db STORE --format json` and `live-monitor report --db STORE` as
subprocesses under /usr/bin/time (wall clock and peak RSS) on a real SQLite store of the same records, written
through `Store.append_many` in batches. The store is built once (~1-2 min) and cached in the temp directory
under a name carrying the record count, seed and a data version; `--store PATH` puts it elsewhere.
`timeline --jsonl` is timed the same way on a JSONL file of the same records (one `to_record()` JSON object a
line, as `probe --json` writes them; built once and cached beside the store), and printed last; `--jsonl-only`
runs only that.
`--json-path` also times the old reading path in this process: every record's JSON parsed into a ProbeResult
(`history.load_store`) and `series_from_records`.

The data: 8 series (4 models x text/audio), 125,000 probes each, 30 s apart (~43 days). Every series sits at a
1% baseline, and the alias and its backend go to 85% 1011s for 2,000 probes then recover: each of them has
two change points. Records carry timings and a server message sequence like real ones (~700 bytes of
JSON). Seeded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.analysis.history import load_store
from monitor.analysis.timeline import Series, build_timeline, cross_model, series_from_records
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult
from monitor.store.records import Store

MODELS = (
    ("gemini-2.5-flash-native-audio-latest", True),
    ("gemini-2.5-flash-native-audio-preview-12-2025", True),
    ("gemini-2.5-flash-native-audio-preview-09-2025", False),
    ("gemini-3.1-flash-live-preview", False),
)
START = datetime(2026, 4, 1, tzinfo=UTC)


def _failures(rng: np.random.Generator, n: int, regresses: bool, baseline: float = 0.01) -> np.ndarray:
    rate = np.full(n, baseline)
    if regresses:
        onset = int(n * 0.8)
        rate[onset : onset + 2000] = 0.85
    return rng.random(n) < rate


def make_arrays(total: int, seed: int, baseline: float = 0.01) -> list[Series]:
    rng = np.random.default_rng(seed)
    per_series = total // (2 * len(MODELS))
    times = START.timestamp() + 30.0 * np.arange(per_series)
    series = []
    for model, regresses in MODELS:
        for probe in ("text", "audio"):
            failed = _failures(rng, per_series, regresses, baseline).astype(np.int64)
            series.append(
                Series(
                    model=model,
                    probe=probe,
                    times=times,
                    trials=np.ones(per_series, dtype=np.int64),
                    failures=failed,
                    classes=("server_close 1011",),
                    class_counts=failed[:, None],
                )
            )
    return series


def iter_records(total: int, seed: int) -> Iterator[ProbeResult]:
    rng = np.random.default_rng(seed)
    per_series = total // (2 * len(MODELS))
    stamps = [START + timedelta(seconds=30 * i) for i in range(per_series)]
    for model, regresses in MODELS:
        for probe in (ProbeKind.TEXT, ProbeKind.AUDIO):
            failed = _failures(rng, per_series, regresses)
            for i in range(per_series):
                common = {
                    "run_id": f"{model}{probe}{i}",
                    "started_at": stamps[i],
                    "vantage": "bench",
                    "endpoint": "gemini-api",
                    "model": model,
                    "probe": probe,
                }
                if failed[i]:
                    yield ProbeResult(
                        **common,  # type: ignore[arg-type]
                        outcome=Outcome.SERVER_CLOSE,
                        cause=Cause.INTERNAL,
                        code=1011,
                        phase=Phase.FIRST_RESPONSE,
                        close_reason="Internal error encountered.",
                        close_initiator="server",
                        timings={
                            TimingPhase.CONNECT: 0.081,
                            TimingPhase.SETUP: 0.3,
                            TimingPhase.FAILURE: 0.41,
                        },
                        messages=(
                            ("setupComplete", -0.1),
                            ("sessionResumptionUpdate", 0.05),
                            ("close", 0.41),
                        ),
                    )
                else:
                    yield ProbeResult(
                        **common,  # type: ignore[arg-type]
                        outcome=Outcome.OK,
                        timings={TimingPhase.CONNECT: 0.081, TimingPhase.SETUP: 0.25, TimingPhase.TURN: 2.0},
                        messages=(
                            ("setupComplete", -0.1),
                            ("sessionResumptionUpdate", 0.05),
                            ("serverContent.modelTurn", 0.6),
                            ("serverContent.modelTurn", 0.7),
                            ("serverContent.turnComplete", 2.0),
                        ),
                        audio_seconds=1.2,
                        prompt_tokens=12,
                        response_tokens=40,
                    )


def make_records(total: int, seed: int) -> list[ProbeResult]:
    return list(iter_records(total, seed))


# Bump when iter_records changes, so a cached store of older data is never reused.
DATA_VERSION = 1


def build_store(path: Path, total: int, seed: int) -> None:
    """Write the records through the store's own write path, batched; renamed into place when complete."""
    partial = path.with_name(path.name + ".partial")
    for stale in path.parent.glob(partial.name + "*"):
        stale.unlink()
    store = Store(partial)
    try:
        records = iter_records(total, seed)
        while batch := list(itertools.islice(records, 20_000)):
            store.append_many(batch)
    finally:
        store.close()
    partial.replace(path)


def build_jsonl(path: Path, total: int, seed: int) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for record in iter_records(total, seed):
            handle.write(json.dumps(record.to_record()) + "\n")
    partial.replace(path)


def time_jsonl(total: int) -> None:
    jsonl = Path(tempfile.gettempdir()) / f"live-monitor-bench-{total}-seed1-v{DATA_VERSION}.jsonl"
    if not jsonl.exists():
        started = time.perf_counter()
        build_jsonl(jsonl, total, seed=1)
        print(f"JSONL built: {jsonl} in {time.perf_counter() - started:.0f} s")
    megabytes = jsonl.stat().st_size / 1e6
    wall, rss, _ = timed_command("timeline", "--jsonl", str(jsonl), "--format", "json")
    print(
        f"end to end: live-monitor timeline --jsonl ({total:,} records, {megabytes:.0f} MB): {wall:.2f} s, "
        f"peak RSS {rss} MB (target < 10 s)"
    )


def timed_command(*args: str) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MB and output bytes of one CLI run under /usr/bin/time."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "monitor", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    wall = re.search(
        r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    assert wall is not None, result.stderr
    assert rss is not None, result.stderr
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    return seconds, int(rss[1]) // 1024, len(result.stdout)


def analyse(series: list[Series]) -> int:
    timelines = [build_timeline(s) for s in series]
    cross_model(timelines, series)
    return sum(len(t.onsets) for t in timelines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="the benchmark store (built there if missing)")
    parser.add_argument("--json-path", action="store_true", help="also time parsing every record (slow)")
    parser.add_argument("--jsonl-only", action="store_true", help="time only timeline --jsonl")
    args = parser.parse_args()
    total = args.records
    print(f"# {platform.machine()} {platform.processor()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.jsonl_only:
        time_jsonl(total)
        return

    series = make_arrays(total, seed=1)
    started = time.perf_counter()
    onsets = analyse(series)
    arrays = time.perf_counter() - started
    print(f"arrays:  {total:,} records, {len(series)} series, {onsets} onsets: {arrays:.2f} s")

    series = make_arrays(total, seed=2, baseline=0.5)
    started = time.perf_counter()
    onsets = analyse(series)
    dense = time.perf_counter() - started
    print(f"arrays, 50% baseline (PELT's worst case, grouped path): {onsets} onsets: {dense:.2f} s")

    records = make_records(total, seed=1)
    started = time.perf_counter()
    grouped = series_from_records(records)
    converted = time.perf_counter() - started
    onsets = analyse(grouped)
    through_records = time.perf_counter() - started
    print(
        f"records: {len(records):,} ProbeResults -> series {converted:.2f} s, "
        f"total {through_records:.2f} s ({onsets} onsets)"
    )
    del records, grouped, series

    store = (
        args.store
        or Path(tempfile.gettempdir()) / f"live-monitor-bench-{total}-seed1-v{DATA_VERSION}.sqlite3"
    )
    if not store.exists():
        started = time.perf_counter()
        build_store(store, total, seed=1)
        print(f"store built: {store} in {time.perf_counter() - started:.0f} s")
    megabytes = store.stat().st_size / 1e6
    wall, rss, size = timed_command("timeline", "--db", str(store), "--format", "json")
    print(
        f"end to end: live-monitor timeline --db ({megabytes:.0f} MB store): {wall:.2f} s, peak RSS {rss} MB"
    )
    wall, rss, size = timed_command("report", "--db", str(store))
    print(
        f"end to end: live-monitor report --db: {wall:.2f} s, peak RSS {rss} MB ({size:,} bytes of Markdown)"
    )
    if args.json_path:
        started = time.perf_counter()
        parsed = load_store(str(store), None, None, None)
        loaded = time.perf_counter() - started
        onsets = analyse(series_from_records(parsed))
        print(
            f"old path (every record parsed): load_store {loaded:.2f} s, "
            f"total {time.perf_counter() - started:.2f} s ({onsets} onsets)"
        )
    time_jsonl(total)


if __name__ == "__main__":
    main()
