"""ProbeScheduler: runs every (model, probe) job on its interval, guarded, and records each result.

One APScheduler interval job per (model, probe), started at a deterministic offset `i/N * interval` so N
jobs spread evenly over the interval instead of bursting at :00 (cloudprober spreads the same way). Guards,
in order: no overlap (APScheduler's max_instances=1; a skipped run counts `skipped_total{reason="overlap"}`),
the session quota per key (`reason="quota"`), then a cap on concurrent sessions per endpoint. Each run is its
own task with a hard deadline, so one hanging or crashing probe never delays another job.

Each result is committed to the store first, then counted in the metrics, then logged: a counter never runs
ahead of the records. A result whose commit fails waits in the store's backlog (`monitor.store.backlog`) and
is committed, counted and logged with the next commit that succeeds. The scheduler is also the daemon's
health check (`/healthz`), which includes why the store refuses writes while it does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.daemon.budget import QuotaGuard
from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ProbeMetrics, SkipReason
from monitor.log import get_logger, log_result
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.probe.runner import longest_run
from monitor.probe.target import ProbeTarget
from monitor.store.backlog import Backlog, StoreWriteError
from monitor.store.records import Store

__all__ = ["ProbeFn", "ProbeJob", "ProbeScheduler", "SessionBudgets", "spread_offsets"]

# Runs one probe: (target, kind, run_id) -> result. The daemon binds run_probe's HTTP session and clock.
ProbeFn = Callable[[ProbeTarget, ProbeKind, str], Awaitable[ProbeResult]]

# A job is unhealthy when it has not completed a run for this many intervals.
STALE_INTERVALS = 2.5
# Beyond its own phase budgets, a probe gets this much slack before the scheduler calls it hung.
HANG_SLACK_SECONDS = 5.0
_HEARTBEAT_SECONDS = 1.0
_LOOP_STALL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ProbeJob:
    target: ProbeTarget
    kind: ProbeKind

    @property
    def id(self) -> str:
        return f"{self.target.endpoint}/{self.target.model}/{self.kind.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionBudgets:
    """Per endpoint (one API key each): sessions per minute and per day, and sessions open at once."""

    sessions_per_minute: int
    sessions_per_day: int
    max_concurrent_sessions: int


def spread_offsets(count: int, interval: float) -> list[float]:
    """Start offsets that spread `count` jobs evenly over one interval: i/N * interval, no hashing."""
    return [interval * i / count for i in range(count)]


class ProbeScheduler:
    """Owns the APScheduler instance, the guards, and the store -> metrics -> log order of every result."""

    def __init__(
        self,
        jobs: Sequence[ProbeJob],
        *,
        interval: float,
        probe: ProbeFn,
        store: Store,
        metrics: ProbeMetrics,
        budgets: SessionBudgets,
        clock: Clock = SYSTEM_CLOCK,
        start_delay: float = 1.0,
        hang_slack: float = HANG_SLACK_SECONDS,
    ) -> None:
        ids = [job.id for job in jobs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate probe jobs: {sorted(i for i in ids if ids.count(i) > 1)}")
        self.jobs = tuple(jobs)
        self.interval = interval
        self._probe = probe
        self._store = store
        self.backlog = Backlog(store)
        self._metrics = metrics
        self._clock = clock
        self._start_delay = start_delay
        self._hang_slack = hang_slack
        self._log = get_logger("monitor.scheduler")
        endpoints = {job.target.endpoint for job in jobs}
        self._quotas = {
            e: QuotaGuard(
                per_minute=budgets.sessions_per_minute, per_day=budgets.sessions_per_day, clock=clock
            )
            for e in endpoints
        }
        self._sessions = {e: asyncio.Semaphore(budgets.max_concurrent_sessions) for e in endpoints}
        self._scheduler: AsyncIOScheduler | None = None
        self._due: dict[str, datetime] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._completed: dict[str, float] = {}
        self._started_at = 0.0
        self._heartbeat_at = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        self.first_fire: dict[str, datetime] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Add one interval job per (model, probe) at its spread offset and start firing."""
        scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
        scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
        base = datetime.now(UTC) + timedelta(seconds=self._start_delay)
        for job, offset in zip(self.jobs, spread_offsets(len(self.jobs), self.interval), strict=True):
            first = base + timedelta(seconds=offset)
            self.first_fire[job.id] = first
            scheduler.add_job(
                self._run_job,
                IntervalTrigger(seconds=self.interval, start_date=first, timezone=UTC),
                args=(job,),
                id=job.id,
                max_instances=1,
                coalesce=True,
                # A run later than one interval is not a run of that slot any more; the next slot takes over.
                misfire_grace_time=max(1, int(self.interval)),
            )
        self._started_at = self._heartbeat_at = self._clock.monotonic()
        self._heartbeat = asyncio.create_task(self._beat(), name="scheduler-heartbeat")
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self, *, grace: float) -> None:
        """Stop firing, give in-flight runs `grace` seconds to finish and be recorded, cancel the rest.

        A run cancelled here, or still waiting for a session slot, counts `skipped_total{reason="shutdown"}`.
        """
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    # -- one run ---------------------------------------------------------------------------------------------

    def _on_event(self, event: JobEvent) -> None:
        # Runs synchronously inside APScheduler's submit, before the job's task first runs: the due time
        # handed over here is the scheduled_run_time of the run that is about to start.
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self._metrics.count_skipped(SkipReason.OVERLAP)
            self._log.info("skipped", job=event.job_id, reason=SkipReason.OVERLAP.value)
        elif event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    async def _run_job(self, job: ProbeJob) -> None:
        due = self._due.pop(job.id, None)
        if self._stopping:
            self._skip(job, SkipReason.SHUTDOWN)
            return
        endpoint = job.target.endpoint
        if not self._quotas[endpoint].try_acquire():
            self._skip(job, SkipReason.QUOTA)
            return
        task = asyncio.current_task()
        assert task is not None  # APScheduler runs coroutine jobs as tasks
        self._running.add(task)
        try:
            result = await self._run_guarded(job, due)
            if result is None:
                return
            if result.recovery is not None:
                self._quotas[endpoint].charge()
            # Shielded: a record whose probe finished is committed and counted even during shutdown.
            await asyncio.shield(self._record(result))
            self._completed[job.id] = self._clock.monotonic()
        finally:
            self._running.discard(task)

    async def _run_guarded(self, job: ProbeJob, due: datetime | None) -> ProbeResult | None:
        endpoint = job.target.endpoint
        run_id = uuid.uuid4().hex
        try:
            async with self._sessions[endpoint]:
                if self._stopping:
                    self._skip(job, SkipReason.SHUTDOWN)
                    return None
                if due is not None:
                    self._metrics.observe_schedule_lag((datetime.now(UTC) - due).total_seconds())
                inflight = self._metrics.inflight.labels(endpoint=endpoint)
                inflight.inc()
                started = datetime.now(UTC)
                try:
                    # The probe bounds itself (longest_run); past that plus slack it is our bug, hung.
                    deadline = longest_run(job.target, job.kind) + self._hang_slack
                    return await asyncio.wait_for(self._probe(job.target, job.kind, run_id), deadline)
                except TimeoutError:
                    return _prober_error(job, run_id, started, "probe overran its phase budgets (hung)")
                except Exception as error:  # noqa: BLE001 - the one boundary where a probe bug becomes an outcome
                    return _prober_error(job, run_id, started, f"probe raised {type(error).__name__}")
                finally:
                    inflight.dec()
        except asyncio.CancelledError:
            self._skip(job, SkipReason.SHUTDOWN)
            raise

    async def _record(self, result: ProbeResult) -> None:
        try:
            committed = await self.backlog.commit(result)
        except StoreWriteError as error:
            # Not counted yet: it is counted when the backlog commits it, so /metrics never runs ahead.
            self._log.error(
                "store_failed", run_id=result.run_id, error=str(error), pending=self.backlog.pending
            )
            return
        except Exception as error:  # noqa: BLE001 - a record that cannot be written must not kill the daemon
            self._log.error("store_failed", run_id=result.run_id, error=f"{type(error).__name__}: {error}")
            return
        for stored in committed:
            self._metrics.observe(stored)
            log_result(self._log, stored)

    def _skip(self, job: ProbeJob, reason: SkipReason) -> None:
        self._metrics.count_skipped(reason)
        self._log.info("skipped", job=job.id, reason=reason.value)

    # -- health ----------------------------------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            self._heartbeat_at = self._clock.monotonic()
            await asyncio.sleep(_HEARTBEAT_SECONDS)

    def check(self) -> HealthStatus:
        """Healthy iff the event loop is turning and every job completed a run within 2.5 intervals."""
        now = self._clock.monotonic()
        if self._scheduler is None:
            return HealthStatus(healthy=False, detail={"scheduler": "stopped"})
        loop_lag = now - self._heartbeat_at
        limit = STALE_INTERVALS * self.interval + self._start_delay
        stale = {
            job.id: round(now - self._completed.get(job.id, self._started_at), 3)
            for job in self.jobs
            if now - self._completed.get(job.id, self._started_at) > limit
        }
        failure = self.backlog.failure
        healthy = loop_lag < _LOOP_STALL_SECONDS and not stale and failure is None
        detail: dict[str, object] = {
            "jobs": len(self.jobs),
            "running": len(self._running),
            "loop_heartbeat_age_seconds": round(loop_lag, 3),
            "stale_jobs": stale,
        }
        if failure is not None:
            detail["store"] = {
                "writable": False,
                "error": failure.cause,
                "since": failure.since.isoformat(),
                "pending_records": failure.pending,
                "dropped_records": failure.dropped,
            }
        return HealthStatus(healthy=healthy, detail=detail)


def _prober_error(job: ProbeJob, run_id: str, started: datetime, detail: str) -> ProbeResult:
    return ProbeResult(
        run_id=run_id,
        started_at=started,
        vantage=job.target.vantage,
        endpoint=job.target.endpoint,
        model=job.target.model,
        probe=job.kind,
        outcome=Outcome.PROBER_ERROR,
        cause=Cause.NONE,
        phase=Phase.NONE,
        detail=detail,
    )
