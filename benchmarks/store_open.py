"""How long the daemon's store open takes with its integrity check, against a store of N records.

`Store(path, exclusive=True)` runs `PRAGMA quick_check` before the daemon starts (docs/store.md, "A damaged
store"); this measures what that costs a restart as the store grows. Builds the store in a temporary
directory with `append_many` (a demo-like history: 4 models x 3 probes a minute), then times a plain open and
an exclusive open, three of each, and prints the figure last.

    .venv/bin/python -m benchmarks.store_open --records 300000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from monitor.probe.outcome import ProbeKind
from monitor.store.records import Store
from tests.history import ALIAS, PINNED, PREVIEW, simulate_history

MODELS = (ALIAS, PREVIEW, PINNED, "gemini-3.1-flash-live-preview")
PROBES = (ProbeKind.TEXT, ProbeKind.AUDIO, ProbeKind.TOOL)


def build(path: Path, records: int) -> None:
    minutes = records // (len(MODELS) * len(PROBES)) + 1
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    history = simulate_history(start, minutes, onset_minute=minutes // 2, models=MODELS, probes=PROBES)
    store = Store(path)
    try:
        while batch := list(islice(history, 20_000)):
            store.append_many(batch)
            if len(store) >= records:
                break
    finally:
        store.close()


def timed_open(path: Path, *, exclusive: bool) -> float:
    started = time.perf_counter()
    Store(path, exclusive=exclusive).close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "records.sqlite3"
        started = time.perf_counter()
        build(path, args.records)
        megabytes = path.stat().st_size / 1e6
        print(f"built {args.records:,} records ({megabytes:.0f} MB) in {time.perf_counter() - started:.0f} s")
        plain = statistics.median(timed_open(path, exclusive=False) for _ in range(3))
        checked = statistics.median(timed_open(path, exclusive=True) for _ in range(3))
        print(f"plain open: {plain * 1000:.0f} ms (median of 3)")
        print(
            f"daemon open with integrity check, {megabytes:.0f} MB store: {checked:.2f} s "
            f"({checked / megabytes * 100:.2f} s per 100 MB)"
        )


if __name__ == "__main__":
    main()
