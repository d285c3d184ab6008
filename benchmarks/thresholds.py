"""Binomial math for the failure-count ladder: false pages per 30 days, detection delays, per-model overrides.

The model is the one of docs/detection.md: one Bernoulli turn every 30 s per model (2 a
minute), rules evaluated after every turn on exact window counts (what the half-integer thresholds of the
shipped rules give), a page when any rung holds (>= c failures within w minutes). Monte Carlo in numpy:

* false pages: alarm onsets (a rung starts to hold when none held on the previous turn) over `--days`
  simulated days at the baseline, scaled to 30 days (and as episodes merged like `keep_firing_for`);
* delay: a baseline hour, then the failure rate jumps to p1; minutes from the change to the first alarm,
  over runs that did not alarm before the change (mean and p90).

    .venv/bin/python benchmarks/thresholds.py                     # the default ladder at a 1% baseline
    .venv/bin/python benchmarks/thresholds.py --baseline 0.03 --model gemini-3.1-flash-live-preview

With --model, it searches the smallest counts that keep the page ladder within the default ladder's
false-page budget (0.25 per 30 days) and the ticket pair within 0.1, and prints them as override rules for
config/prometheus/rules/thresholds.yml.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

TURNS_PER_MINUTE = 2
PAGE_WINDOWS = (5, 15, 60)  # minutes
TICKET_WINDOWS = (180, 360)
DEFAULT_PAGE = (4, 5, 9)
DEFAULT_TICKET = (14, 22)
PAGE_BUDGET = 0.25  # false pages per 30 days per model the default ladder stays under at 1%
TICKET_BUDGET = 0.1
KEEP_TURNS = {"page": 20, "ticket": 60}  # keep_firing_for of the shipped rules (10m, 30m) in turns
WINDOW_LABEL = {5: "5m", 15: "15m", 60: "1h", 180: "3h", 360: "6h"}


def alarms(failures: np.ndarray, windows: Sequence[int], counts: Sequence[int]) -> np.ndarray:
    """Per-turn alarm state along axis 1 (runs x turns): any window's failure count >= its threshold."""
    cum = np.concatenate(
        [np.zeros((failures.shape[0], 1), np.int32), np.cumsum(failures, axis=1, dtype=np.int32)], 1
    )
    state = np.zeros(failures.shape, dtype=bool)
    for minutes, count in zip(windows, counts, strict=True):
        turns = minutes * TURNS_PER_MINUTE
        window_sum = cum[:, 1:] - cum[:, np.maximum(np.arange(1, cum.shape[1]) - turns, 0)]
        state |= window_sum >= count
    return state


def false_alarms_per_30d(
    p0: float, windows: Sequence[int], counts: Sequence[int], days: int, seed: int, keep_turns: int = 0
) -> float:
    """Alarm onsets per 30 days; with keep_turns, an alarm within keep_turns of the previous one is the same
    episode (what `keep_firing_for` does: 10 minutes = 20 turns)."""
    rng = np.random.default_rng(seed)
    turns_per_day = 1440 * TURNS_PER_MINUTE
    warmup = max(windows) * TURNS_PER_MINUTE
    onsets = 0
    chunk_days = 50
    for start in range(0, days, chunk_days):
        n = min(chunk_days, days - start)
        # Each run is one day plus a warm-up (so windows are full); onsets counted in the day only.
        failures = rng.random((n, warmup + turns_per_day)) < p0
        state = alarms(failures, windows, counts)
        alarmed = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(state, axis=1, dtype=np.int32)], 1)
        t = np.arange(warmup, state.shape[1])
        recent = alarmed[:, t] - alarmed[:, np.maximum(t - keep_turns - 1, 0)]
        rising = state[:, warmup:] & (recent == 0)
        onsets += int(rising.sum())
    return onsets / days * 30


def delays(
    p0: float,
    p1: float,
    windows: Sequence[int],
    counts: Sequence[int],
    runs: int,
    horizon_min: int,
    seed: int,
) -> tuple[float, float, float]:
    """(mean, p90, fraction detected within the horizon) of the delay in minutes after a p0 -> p1 change."""
    rng = np.random.default_rng(seed)
    before = max(60, *windows) * TURNS_PER_MINUTE
    after = horizon_min * TURNS_PER_MINUTE
    failures = np.concatenate([rng.random((runs, before)) < p0, rng.random((runs, after)) < p1], axis=1)
    state = alarms(failures, windows, counts)
    clean = ~state[:, :before].any(axis=1)
    post = state[clean, before:]
    detected = post.any(axis=1)
    first = np.argmax(post, axis=1)[detected]
    minutes = (first + 1) / TURNS_PER_MINUTE  # turn k after the change completes (k + 1) / 2 minutes later
    return float(minutes.mean()), float(np.percentile(minutes, 90)), float(detected.mean())


def search(p0: float, windows: Sequence[int], start: Sequence[int], budget: float, days: int) -> list[int]:
    """Raises each rung's count until the whole ladder stays within the false-alarm budget."""
    counts = list(start)
    while false_alarms_per_30d(p0, windows, counts, days, seed=1) > budget:
        # Raise the rung that contributes most false alarms on its own.
        own = [false_alarms_per_30d(p0, [w], [c], days, seed=1) for w, c in zip(windows, counts, strict=True)]
        counts[int(np.argmax(own))] += 1
    return counts


def report(p0: float, page: Sequence[int], ticket: Sequence[int], days: int, runs: int) -> None:
    print(f"baseline {p0:.1%}, {TURNS_PER_MINUTE} turns/min, {days} simulated days, {runs} runs per shift")
    for name, windows, counts in (("page", PAGE_WINDOWS, page), ("ticket", TICKET_WINDOWS, ticket)):
        ladder = " or ".join(f">={c}/{WINDOW_LABEL[w]}" for w, c in zip(windows, counts, strict=True))
        fa = false_alarms_per_30d(p0, windows, counts, days, seed=2)
        episodes = false_alarms_per_30d(p0, windows, counts, days, seed=2, keep_turns=KEEP_TURNS[name])
        cells = []
        for p1 in (0.8, 0.3, 0.1):
            mean, p90, found = delays(p0, p1, windows, counts, runs, horizon_min=24 * 60, seed=3)
            cells.append(f"{p1:.0%}: {mean:.1f} min (p90 {p90:.0f}, found {found:.0%})")
        print(
            f"  {name:6} {ladder:28} false/30d {fa:6.3f} (episodes {episodes:.3f}) | delay "
            + " | ".join(cells)
        )


def overrides(model: str, page: Sequence[int], ticket: Sequence[int]) -> str:
    lines = ["      # generated by benchmarks/thresholds.py"]
    for windows, counts in ((PAGE_WINDOWS, page), (TICKET_WINDOWS, ticket)):
        for w, c in zip(windows, counts, strict=True):
            lines += [
                "      - record: model_window:gemini_live_probe_failure_threshold:override",
                f"        expr: vector({c})",
                f"        labels: {{model: {model}, window: {WINDOW_LABEL[w]}}}",
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", type=float, default=0.01, help="per-turn failure probability (default 0.01)"
    )
    parser.add_argument("--days", type=int, default=4000, help="simulated baseline days (default 4000)")
    parser.add_argument("--runs", type=int, default=4000, help="runs per shift for the delays (default 4000)")
    parser.add_argument("--model", help="search per-model counts for this model and print override rules")
    args = parser.parse_args()
    page, ticket = list(DEFAULT_PAGE), list(DEFAULT_TICKET)
    if args.model:
        page = search(args.baseline, PAGE_WINDOWS, page, PAGE_BUDGET, args.days)
        ticket = search(args.baseline, TICKET_WINDOWS, ticket, TICKET_BUDGET, args.days)
    report(args.baseline, page, ticket, args.days, args.runs)
    if args.model:
        print("\n# config/prometheus/rules/thresholds.yml, under the group's `rules:`")
        print(overrides(args.model, page, ticket))


if __name__ == "__main__":
    main()
