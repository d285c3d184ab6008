"""Timeline over 1,000,000 probe records: regimes, onset intervals and the cross-model view.

    .venv/bin/python benchmarks/timeline_scale.py [--records 1000000]

Two paths are timed, both on in-memory data:
- arrays: per-series (times, trials, failures, class counts) numpy arrays, what `build_timeline` consumes;
- records: ProbeResult objects through `series_from_records` (the path of `--db` and `--jsonl` after parsing).
A third run puts every series at a 50% baseline: the most runs, where PELT's pruning is weakest
(changepoint.py then segments grouped bins and refines each change). Reading the store or a JSONL file
(JSON parsing per record) is not included.

The data: 8 series (4 models x text/audio), 125,000 probes each, 30 s apart (~43 days). Every series sits at a
1% baseline, and the alias and its backend go to 85% 1011s for 2,000 probes then recover: each of them has
two change points. Seeded.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.timeline import Series, build_timeline, cross_model, series_from_records

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


def make_records(total: int, seed: int) -> list[ProbeResult]:
    rng = np.random.default_rng(seed)
    per_series = total // (2 * len(MODELS))
    stamps = [START + timedelta(seconds=30 * i) for i in range(per_series)]
    records = []
    for model, regresses in MODELS:
        for probe in (ProbeKind.TEXT, ProbeKind.AUDIO):
            failed = _failures(rng, per_series, regresses)
            for i in range(per_series):
                if failed[i]:
                    records.append(
                        ProbeResult(
                            run_id=f"{model}{probe}{i}",
                            started_at=stamps[i],
                            vantage="bench",
                            endpoint="gemini-api",
                            model=model,
                            probe=probe,
                            outcome=Outcome.SERVER_CLOSE,
                            cause=Cause.INTERNAL,
                            code=1011,
                            phase=Phase.FIRST_RESPONSE,
                        )
                    )
                else:
                    records.append(
                        ProbeResult(
                            run_id=f"{model}{probe}{i}",
                            started_at=stamps[i],
                            vantage="bench",
                            endpoint="gemini-api",
                            model=model,
                            probe=probe,
                            outcome=Outcome.OK,
                        )
                    )
    return records


def analyse(series: list[Series]) -> int:
    timelines = [build_timeline(s) for s in series]
    cross_model(timelines, series)
    return sum(len(t.onsets) for t in timelines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    total = parser.parse_args().records
    print(f"# {platform.machine()} {platform.processor()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {datetime.now(UTC):%Y-%m-%d}")  # fmt: skip

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


if __name__ == "__main__":
    main()
