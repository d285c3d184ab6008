"""ProbeScheduler on a real event loop, real APScheduler, real SQLite store and real Prometheus registry.

The probe itself is the injected seam (`ProbeFn`): these tests need probes that sleep, hang or raise on
purpose. One test runs the real probe client against the real emulator over a socket.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from monitor.daemon.budget import QuotaGuard
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.daemon.scheduler import ProbeJob, ProbeScheduler, SessionBudgets, spread_offsets
from monitor.emulator import load_scenario, start_emulator
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeLimits, ProbeTarget
from monitor.store.records import Store
from tests.history import ok_turn

ENDPOINT = "gemini-api"
OK_LABELS = {"endpoint": ENDPOINT, "probe": "text", "outcome": "ok", "cause": "none", "code": "", "phase": ""}
SMALL_BUDGETS = PhaseBudgets(connect=0.1, setup=0.1, first_response=0.2, turn=0.3)


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ProbeMetrics:
    return ProbeMetrics(registry)


def jobs_for(models: list[str], kinds: tuple[ProbeKind, ...] = (ProbeKind.TEXT,)) -> list[ProbeJob]:
    targets = [
        # No recovery session and a short close limit: the hang watchdog (longest_run + slack) stays short.
        ProbeTarget(
            endpoint=ENDPOINT,
            url="ws://127.0.0.1:1/unused",
            model=m,
            budgets=SMALL_BUDGETS,
            recover=False,
            limits=ProbeLimits(close_seconds=0.05),
        )
        for m in models
    ]
    return [ProbeJob(t, k) for t in targets for k in kinds]


def budgets(*, per_minute: int = 10_000, concurrent: int = 100) -> SessionBudgets:
    return SessionBudgets(
        sessions_per_minute=per_minute, sessions_per_day=1_000_000, max_concurrent_sessions=concurrent
    )


def sleeping_probe(
    seconds: Callable[[ProbeTarget], float], log: list[tuple[str, str]] | None = None
) -> Callable[[ProbeTarget, ProbeKind, str], Awaitable[ProbeResult]]:
    """A probe that takes `seconds(target)` and succeeds; logs ("start"|"end", model)."""

    async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
        if log is not None:
            log.append(("start", target.model))
        try:
            await asyncio.sleep(seconds(target))
        finally:
            if log is not None:
                log.append(("end", target.model))
        return ok_turn(datetime.now(UTC), model=target.model, probe=kind, run_id=run_id)

    return probe


def skipped(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("gemini_live_monitor_skipped_total", {"reason": reason}) or 0.0


def max_concurrency(log: list[tuple[str, str]], model: str | None = None) -> int:
    current = peak = 0
    for event, m in log:
        if model is not None and m != model:
            continue
        current += 1 if event == "start" else -1
        peak = max(peak, current)
    return peak


def test_offsets_spread_jobs_evenly_over_the_interval() -> None:
    assert spread_offsets(4, 60.0) == [0.0, 15.0, 30.0, 45.0]
    assert spread_offsets(1, 60.0) == [0.0]
    assert spread_offsets(3, 2.0) == pytest.approx([0.0, 2 / 3, 4 / 3])


async def test_scheduled_first_fires_are_spread_and_deterministic(
    store: Store, metrics: ProbeMetrics
) -> None:
    jobs = jobs_for([f"m{i}" for i in range(5)])
    scheduler = ProbeScheduler(
        jobs,
        interval=10.0,
        probe=sleeping_probe(lambda _: 0),
        store=store,
        metrics=metrics,
        budgets=budgets(),
    )
    await scheduler.start()
    try:
        fires = [scheduler.first_fire[job.id] for job in jobs]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
        assert gaps == pytest.approx([2.0] * 4, abs=1e-6)
    finally:
        await scheduler.stop(grace=1.0)


async def test_a_run_still_going_when_the_next_is_due_is_skipped_and_counted(
    store: Store, metrics: ProbeMetrics, registry: CollectorRegistry
) -> None:
    log: list[tuple[str, str]] = []
    scheduler = ProbeScheduler(
        jobs_for(["slow"]),
        interval=0.5,
        probe=sleeping_probe(lambda _: 1.2, log),
        store=store,
        metrics=metrics,
        budgets=budgets(),
        start_delay=0.1,
        hang_slack=5.0,
    )
    await scheduler.start()
    await asyncio.sleep(3.0)
    await scheduler.stop(grace=2.0)
    assert max_concurrency(log) == 1, "two runs of one job overlapped"
    assert len(store) >= 2
    # 0.5 s interval, 1.2 s runs: about two of every three fire times find the previous run still going.
    assert skipped(registry, "overlap") >= 2


async def test_concurrent_sessions_per_endpoint_are_capped(store: Store, metrics: ProbeMetrics) -> None:
    log: list[tuple[str, str]] = []
    scheduler = ProbeScheduler(
        jobs_for([f"m{i}" for i in range(6)]),
        interval=1.0,
        probe=sleeping_probe(lambda _: 0.8, log),
        store=store,
        metrics=metrics,
        budgets=budgets(concurrent=2),
        start_delay=0.1,
    )
    await scheduler.start()
    await asyncio.sleep(3.0)
    await scheduler.stop(grace=2.0)
    # Uncapped, six 0.8 s runs spread over 1 s would overlap about five deep.
    assert max_concurrency(log) == 2
    assert len(store) >= 4


async def test_one_hanging_and_one_crashing_probe_do_not_affect_the_others(
    store: Store, metrics: ProbeMetrics
) -> None:
    async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
        if target.model == "hangs":
            await asyncio.Event().wait()
        if target.model == "crashes":
            raise RuntimeError("a bug in the probe")
        await asyncio.sleep(0.05)
        return ok_turn(datetime.now(UTC), model=target.model, probe=kind, run_id=run_id)

    scheduler = ProbeScheduler(
        jobs_for(["hangs", "crashes", "healthy"]),
        interval=0.5,
        probe=probe,
        store=store,
        metrics=metrics,
        budgets=budgets(concurrent=3),
        start_delay=0.1,
        hang_slack=0.5,  # longest_run 0.6 s + 0.5 s: a hang is cut after 1.1 s
    )
    await scheduler.start()
    await asyncio.sleep(3.2)
    health = scheduler.check()
    await scheduler.stop(grace=1.0)
    by_model = Counter((r.model, r.outcome) for r in store.query())
    # The healthy job ran on every fire time: 3.2 s / 0.5 s, minus the start delay.
    assert by_model["healthy", Outcome.OK] >= 5
    assert by_model["crashes", Outcome.PROBER_ERROR] >= 5
    hung = list(store.query(model="hangs"))
    assert hung, "the hung probe was never cut off"
    assert all(r.outcome is Outcome.PROBER_ERROR and "hung" in r.detail for r in hung)
    assert health.healthy, health.detail


async def test_the_quota_guard_skips_runs_beyond_the_per_minute_budget(
    store: Store, metrics: ProbeMetrics, registry: CollectorRegistry
) -> None:
    scheduler = ProbeScheduler(
        jobs_for(["a", "b"]),
        interval=0.4,
        probe=sleeping_probe(lambda _: 0.01),
        store=store,
        metrics=metrics,
        budgets=budgets(per_minute=3),
        start_delay=0.1,
    )
    await scheduler.start()
    await asyncio.sleep(2.0)
    await scheduler.stop(grace=1.0)
    assert len(store) == 3
    assert skipped(registry, "quota") >= 4


def test_quota_guard_windows_slide() -> None:
    class Manual:
        def __init__(self) -> None:
            self.t = 0.0

        def monotonic(self) -> float:
            return self.t

        def now(self) -> datetime:
            return datetime.now(UTC)

    clock = Manual()
    guard = QuotaGuard(per_minute=2, per_day=3, clock=clock)
    assert guard.try_acquire()
    assert guard.try_acquire()
    assert not guard.try_acquire()
    clock.t = 60.0
    assert guard.try_acquire()  # the minute window slid
    assert not guard.try_acquire()
    clock.t = 200.0
    assert not guard.try_acquire()  # the day window is full (3)
    clock.t = 86_400.0
    assert guard.try_acquire()


async def test_shutdown_records_finishing_runs_and_counts_cancelled_ones(
    store: Store, metrics: ProbeMetrics, registry: CollectorRegistry
) -> None:
    durations = {"stuck": 30.0, "finishing": 1.0}
    scheduler = ProbeScheduler(
        jobs_for(["stuck", "finishing"]),  # offsets 0 s and 1 s
        interval=2.0,
        probe=sleeping_probe(lambda t: durations[t.model]),
        store=store,
        metrics=metrics,
        budgets=budgets(),
        start_delay=0.1,
        hang_slack=60.0,
    )
    await scheduler.start()
    await asyncio.sleep(1.4)  # both in flight; "finishing" needs 0.7 s more
    loop = asyncio.get_running_loop()
    started = loop.time()
    await scheduler.stop(grace=1.0)
    elapsed = loop.time() - started
    assert [r.model for r in store.query()] == ["finishing"]
    assert skipped(registry, "shutdown") == 1
    assert 0.9 < elapsed < 1.6


async def test_every_result_is_committed_before_it_is_counted(
    store: Store, metrics: ProbeMetrics, registry: CollectorRegistry
) -> None:
    seen: list[tuple[int, float]] = []

    async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
        counted = registry.get_sample_value("gemini_live_probe_turns_total", OK_LABELS | {"model": "m"})
        seen.append((len(store), counted or 0.0))
        return ok_turn(datetime.now(UTC), model=target.model, probe=kind, run_id=run_id)

    metrics.register_targets(ENDPOINT, [ModelInfo("m", "f", alias=False)], [ProbeKind.TEXT])
    scheduler = ProbeScheduler(
        jobs_for(["m"]),
        interval=0.2,
        probe=probe,
        store=store,
        metrics=metrics,
        budgets=budgets(),
        start_delay=0.05,
    )
    await scheduler.start()
    await asyncio.sleep(1.2)
    await scheduler.stop(grace=1.0)
    assert len(seen) >= 4
    # At every probe start, the counter equals the records: nothing counted that is not stored.
    assert all(stored == counted for stored, counted in seen)
    lag_count = registry.get_sample_value("gemini_live_monitor_schedule_lag_seconds_count")
    assert lag_count == len(seen)


async def test_real_probes_against_the_emulator_are_stored_counted_and_healthy(
    store: Store, metrics: ProbeMetrics, registry: CollectorRegistry
) -> None:
    async with (
        start_emulator(load_scenario("healthy"), latency_scale=0.0, seed=1) as emulator,
        aiohttp.ClientSession() as http,
    ):
        target = ProbeTarget(
            endpoint=ENDPOINT,
            url=emulator.url,
            model="gemini-2.5-flash-native-audio-preview-09-2025",
            api_key=SecretStr("emulator-key"),
            budgets=PhaseBudgets(connect=0.5, setup=0.5, first_response=0.5, turn=1.0),
        )

        async def probe(t: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
            return await run_probe(t, kind, http=http, run_id=run_id)

        scheduler = ProbeScheduler(
            [ProbeJob(target, ProbeKind.TEXT)],
            interval=2.0,
            probe=probe,
            store=store,
            metrics=metrics,
            budgets=budgets(),
            start_delay=0.05,
        )
        await scheduler.start()
        await asyncio.sleep(4.5)
        health = scheduler.check()
        await scheduler.stop(grace=2.0)
    records = store.query()
    assert len(records) >= 2
    assert all(r.outcome is Outcome.OK for r in records), [r.detail for r in records]
    assert health.healthy, health.detail
    counted = registry.get_sample_value("gemini_live_probe_turns_total", OK_LABELS | {"model": target.model})
    assert counted == len(records)
