"""The daemon's regime tracker on simulated turns: false episodes at a 1% baseline, detection delay, cost.

    .venv/bin/python benchmarks/regime_tracker.py [--jobs 200] [--days 1] [--onsets 100] [--seed 5]

Feeds `monitor.daemon.regime.RegimeTracker` one turn per job a minute, as the daemon's metrics do:

* false episodes: `--jobs` series at a 1% failure rate for `--days` days; every switch to "failing" is false;
* delay: `--onsets` series at 1% for an hour, then 80%; the turns from the change to the first "failing";
* cost: microseconds per recorded turn over both runs.

The last line is the false-episode rate per job-day and the median delay in turns.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from monitor.daemon.regime import RegimeTracker
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult

START = datetime(2026, 5, 27, tzinfo=UTC)


def _turn(job: int, minute: int, failed: bool) -> ProbeResult:
    common = {
        "run_id": f"{job}-{minute}",
        "started_at": START + timedelta(minutes=minute),
        "vantage": "bench",
        "endpoint": "gemini-api",
        "model": f"model-{job}",
        "probe": ProbeKind.TEXT,
    }
    if failed:
        return ProbeResult(
            **common,  # type: ignore[arg-type]
            outcome=Outcome.SERVER_CLOSE,
            cause=Cause.INTERNAL,
            code=1011,
            phase=Phase.FIRST_RESPONSE,
        )
    return ProbeResult(**common, outcome=Outcome.OK)  # type: ignore[arg-type]


def run(jobs: int, minutes: int, rng: random.Random, onset: int | None) -> tuple[int, list[int], int, float]:
    """(episodes, delays in turns, turns, seconds) for `jobs` series; 80% from minute `onset` if given."""
    tracker = RegimeTracker()
    failing = [False] * jobs
    flagged: dict[int, int] = {}
    episodes = 0
    started = time.perf_counter()
    for minute in range(minutes):
        rate = 0.8 if onset is not None and minute >= onset else 0.01
        for job in range(jobs):
            regime = tracker.record(_turn(job, minute, rng.random() < rate))
            assert regime is not None
            if regime.failing and not failing[job]:
                episodes += 1
                if onset is not None and minute >= onset:
                    flagged.setdefault(job, minute - onset + 1)
            failing[job] = regime.failing
    return episodes, sorted(flagged.values()), jobs * minutes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--onsets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    minutes = round(args.days * 1440)
    false_episodes, _, turns, seconds = run(args.jobs, minutes, rng, None)
    _, delays, more_turns, more_seconds = run(args.onsets, 90, rng, 60)
    per_job_day = false_episodes / (args.jobs * args.days)
    print(f"# {args.jobs} jobs x {args.days:g} d at 1%: {false_episodes} false episodes")
    median, p90 = statistics.median(delays), delays[int(0.9 * (len(delays) - 1))]
    print(f"# {args.onsets} onsets 1% -> 80%: flagged {len(delays)}, delay median {median} turns, p90 {p90}")
    print(f"# cost: {(seconds + more_seconds) / (turns + more_turns) * 1e6:.0f} us per recorded turn")
    print(f"false episodes per job-day {per_job_day:.3f}; median delay {median} turns")


if __name__ == "__main__":
    main()
