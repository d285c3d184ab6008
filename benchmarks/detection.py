"""Detection benchmark: simulated probe outcomes replayed through the SHIPPED rules by the real promtool.

    .venv/bin/python benchmarks/detection.py [--fa-model-days 90] [--runs 100] [--seed 1]

What runs: config/prometheus/rules/gemini-live.yml, pruned mechanically to GeminiLiveFailureBurst and the
recording rules it reads (expressions unchanged; the ticket/latency/recovery rules are left out only because
they cost promtool time and do not affect the page), plus thresholds.yml. The input series are what the daemon
exports for one model: `outcome="ok"` and a 1011 counter, one Bernoulli turn every 30 s, scraped every 15 s
(the shipped scrape interval), evaluated every 30 s (the shipped group interval). Each simulated model is one
independent replica, so one promtool run holds many replicas.

* False pages: `--fa-model-days` model-days at a 1% baseline; page onsets are read back from the ALERTS series
  promtool writes (rising edges of GeminiLiveFailureBurst, firing), scaled to 30 days.
* Delay: per shift (1% -> 80%, 30%, 10%), `--runs` replicas with a 1% hour, then the new rate; the delay is
  the first firing evaluation after the change, minus the change time. Replicas that paged during the
  baseline hour are dropped (as in docs/detection.md's method).

The results are printed beside the numpy Monte Carlo of the same ladder (benchmarks/thresholds.py) and the
limits of docs/detection.md (CUSUM tuned to each shift).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from probe_series import encode, failed_series, info_series, ok_series, turn_counters, up_series

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "config/prometheus/rules/gemini-live.yml"
OVERRIDES = REPO / "config/prometheus/rules/thresholds.yml"
ALERT = "GeminiLiveFailureBurst"
# --baseline changes it (a sanity check: at 3% docs/detection.md predicts ~59 false pages / 30 d).
BASELINE = 0.01
SHIFTS = {0.8: 30, 0.3: 60, 0.1: 300}  # failure rate after the change -> minutes replayed after it
LIMIT = {0.8: 2.0, 0.3: 6.5, 0.1: 27.0}  # CUSUM tuned to the shift (docs/detection.md, "The physical limit")
REFERENCE_LADDER = {"fa": "0.19-0.22", 0.8: "2.7 (p90 3)", 0.3: "7.6 (p90 12)", 0.1: "36 (p90 62)"}
FIRING = f'ALERTS{{alertname="{ALERT}",alertstate="firing"}}'


def pruned_rules(directory: Path) -> Path:
    """The shipped group with only the alert and the records it reads (transitively), in shipped order."""
    group = yaml.safe_load(RULES.read_text())["groups"][0]
    by_name = {rule.get("record") or rule["alert"]: rule for rule in group["rules"]}
    needed: set[str] = set()
    pending = [ALERT]
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        pending += [
            r
            for r in by_name
            if "record" in by_name[r] and re.search(rf"\b{re.escape(r)}\b", by_name[name]["expr"])
        ]
    group["rules"] = [rule for rule in group["rules"] if (rule.get("record") or rule["alert"]) in needed]
    path = directory / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return path


def replica_series(model: str, failures: np.ndarray) -> list[dict[str, str]]:
    ok, failed = turn_counters([bool(f) for f in failures], scrape_seconds=15)
    return [
        {"series": info_series(model, "f", alias=False), "values": f"1x{len(ok) - 1}"},
        {"series": ok_series(model), "values": encode(ok)},
        {"series": failed_series(model), "values": encode(failed)},
    ]


def run_promtool(
    directory: Path, name: str, series: list[dict[str, str]], minutes: int, exprs: list[tuple[str, int]]
) -> dict[str, dict[str, float]]:
    """Runs one promtool test whose expected results are empty; returns {expr: {model: value}} it got."""
    test: dict[str, Any] = {
        "rule_files": [str(directory / "rules.yml"), str(OVERRIDES)],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": up_series(), "values": f"1x{minutes * 4}"}, *series],
                "promql_expr_test": [{"expr": e, "eval_time": f"{t}m", "exp_samples": []} for e, t in exprs],
            }
        ],
    }
    path = directory / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 20))
    done = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    results: dict[str, dict[str, float]] = {e: {} for e, _ in exprs}
    if "err:" in output:
        raise RuntimeError(f"promtool could not evaluate a query:\n{output}")
    for block in re.split(r"\n\s+expr: ", output)[1:]:
        expr = next(e for e, _ in exprs if block.startswith(f'"{e.replace(chr(34), chr(92) + chr(34))}"'))
        got = re.search(r"got: (.*)", block)
        for labels, value in re.findall(r"\{([^}]*)\} ([-+0-9.eE]+)", got.group(1) if got else ""):
            model = re.search(r'model="([^"]*)"', labels)
            results[expr][model.group(1) if model else ""] = float(value)
    return results


def false_pages(directory: Path, p0: float, model_days: int, rng: np.random.Generator) -> tuple[int, float]:
    """(page onsets, model-days) over replicas of one day each, after a one-hour warm-up."""
    turns = 25 * 120
    series = [s for m in range(model_days) for s in replica_series(f"fa-{m}", rng.random(turns) < p0)]
    onsets = f"sum by (model) (sum_over_time(({FIRING} unless {FIRING} offset 30s)[24h:30s]))"
    got = run_promtool(directory, "false-pages", series, 25 * 60, [(onsets, 25 * 60)])
    return int(sum(got[onsets].values())), float(model_days)


def delay(
    directory: Path, p0: float, p1: float, runs: int, rng: np.random.Generator
) -> tuple[list[float], int]:
    """Delays in minutes of the replicas that did not page before the change; and how many did page early."""
    after = SHIFTS[p1]
    series = []
    for r in range(runs):
        outcomes = np.concatenate([rng.random(120) < p0, rng.random(after * 2) < p1])
        series += replica_series(f"shift-{r}", outcomes)
    # promtool caps a query at 10,000 loaded samples: a subquery over firing replicas loads ~2 samples per
    # replica and step, so the replicas are split into chunks of one query each.
    steps = after * 2
    chunk = max(1, 4000 // (2 * steps))
    firsts = []
    for start in range(0, runs, chunk):
        names = "|".join(f"shift-{r}" for r in range(start, min(start + chunk, runs)))
        firing = f'ALERTS{{alertname="{ALERT}",alertstate="firing",model=~"{names}"}}'
        firsts.append(
            f"min by (model) (min_over_time(timestamp({firing} unless {firing} offset 30s)[{after}m:30s]))"
        )
    early = f"max by (model) (max_over_time({FIRING}[60m]))"
    exprs = [(first, 60 + after) for first in firsts] + [(early, 60)]
    got = run_promtool(directory, f"shift-{p1}", series, 60 + after, exprs)
    first_firing = {model: ts for first in firsts for model, ts in got[first].items()}
    delays = [(ts - 3600) / 60 for model, ts in first_firing.items() if model not in got[early]]
    missed = runs - len(got[early]) - len(delays)
    return sorted(delays) + [float("inf")] * missed, len(got[early])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fa-model-days", type=int, default=90, help="baseline model-days replayed (default 90)"
    )
    parser.add_argument("--runs", type=int, default=100, help="replicas per shift (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--baseline", type=float, default=BASELINE, help="baseline failure rate (default 0.01)"
    )
    args = parser.parse_args()
    p0 = args.baseline
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        pruned_rules(directory)
        onsets, days = false_pages(directory, p0, args.fa_model_days, rng)
        print("| measure | promtool, shipped rules | reference ladder | limit (CUSUM) |")
        print("|---|---|---|---|")
        rate = f"{onsets / days * 30:.2f} ({onsets} in {days:.0f} model-days)"
        reference = REFERENCE_LADDER["fa"]
        print(f"| false pages per 30 days ({p0:.0%} baseline) | {rate} | {reference} | 1 (budget) |")
        for p1, horizon in SHIFTS.items():
            values, early = delay(directory, p0, p1, args.runs, rng)
            finite = [v for v in values if v != float("inf")]
            notes = [f"{len(finite)} runs"]
            if len(finite) < len(values):
                notes.append(f"{len(values) - len(finite)} not within {horizon} min")
            if early:
                notes.append(f"{early} paged before the change")
            cell = f"{np.mean(finite):.1f} / {np.percentile(values, 90):.1f} / {max(finite):.1f}"
            print(
                f"| delay {p0:.0%} -> {p1:.0%} (min): mean / p90 / max | {cell} ({', '.join(notes)}) "
                f"| {REFERENCE_LADDER[p1]} | {LIMIT[p1]} |"
            )
    print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
