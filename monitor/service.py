"""The daemon process behind `live-monitor run`: wires settings, store, metrics, scheduler and web app
together, and owns the process lifecycle (the demo emulator's thread, signals, orderly shutdown).

Shutdown on SIGTERM/SIGINT: stop firing, let in-flight probes finish within one probe timeout (the rest are
cancelled and counted as `skipped{reason="shutdown"}`), stop the web app, commit what the backlog still
holds, close the store (which finishes queued commits), exit 0. SIGHUP is logged and ignored: the
configuration is read once at start (restart to apply a change), and a hang-up from a closed terminal or a
`kill -HUP` by habit must not drop the probes in flight.

Start refuses, with one `cannot start: ...` line and exit 1, a store another daemon holds (its PID named),
a store that fails its integrity check, and a store directory that cannot be created.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from aiohttp import web as aioweb
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from monitor import eventloop
from monitor.config.settings import EndpointSettings, MonitorSettings
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.daemon.regime import RegimeTracker, seed_from_store
from monitor.daemon.scheduler import ProbeJob, ProbeScheduler, SessionBudgets
from monitor.emulator import RunningEmulator, load_scenario, start_emulator
from monitor.live.session import http_client
from monitor.log import get_logger
from monitor.probe.outcome import Phase, ProbeKind
from monitor.probe.record import ProbeResult, format_utc
from monitor.probe.runner import run_probe
from monitor.probe.target import AuthKind, ProbeTarget
from monitor.store.records import Store, StoreError
from monitor.text import redact_url
from monitor.web.app import build_app

__all__ = ["DEMO_API_KEY", "DEMO_SCENARIO", "DemoEmulator", "run_daemon"]

DEMO_SCENARIO = "seed-replay"
# The emulator accepts any non-empty key; a real key is never sent to it.
DEMO_API_KEY = SecretStr("emulator-key")
_RETENTION_EVERY_SECONDS = 3600.0
EXIT_CANNOT_START = 1


class StartupError(Exception):
    """The daemon cannot start (port taken, ...); the message names the resource and the reason."""


@dataclass(frozen=True, slots=True)
class DemoInfo:
    url: str
    onset_at: datetime | None  # None: an external emulator, whose own --onset decides


class DemoEmulator:
    """The seed-replay emulator on its own thread and event loop, so its work never sits on the probes' timed
    path (a probe's first_response must not wait for the emulator's coroutine to get the loop)."""

    def __init__(self, *, onset_seconds: float, latency_scale: float, seed: int | None) -> None:
        self._onset = onset_seconds
        self._latency_scale = latency_scale
        self._seed = seed
        self._ready = threading.Event()
        self._running: RunningEmulator | None = None
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="demo-emulator", daemon=True)
        self.started_at = datetime.now(UTC)

    def start(self, timeout: float = 30.0) -> DemoInfo:
        self.started_at = datetime.now(UTC)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the demo emulator did not start")
        if self._error is not None or self._running is None:
            raise RuntimeError(f"the demo emulator failed to start: {self._error}")
        return DemoInfo(url=self._running.url, onset_at=self.started_at + timedelta(seconds=self._onset))

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10.0)

    def _main(self) -> None:
        try:
            eventloop.run(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread, not lost
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        scenario = load_scenario(DEMO_SCENARIO)
        async with start_emulator(
            scenario,
            host="127.0.0.1",
            port=0,
            onset_seconds=self._onset,
            latency_scale=self._latency_scale,
            seed=self._seed,
        ) as running:
            self._running = running
            self._ready.set()
            await self._stop.wait()


def run_daemon(
    settings: MonitorSettings,
    *,
    demo: bool = False,
    demo_onset: float | None = None,
    listen: tuple[str, int] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code (0 after an orderly shutdown, 1 if it cannot start)."""
    emulator: DemoEmulator | None = None
    demo_info: DemoInfo | None = None
    # Ignored from the very start (the demo emulator takes a moment); the event loop logs each one later.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        if demo and settings.demo.emulator_url is not None:
            demo_info = DemoInfo(url=settings.demo.emulator_url, onset_at=None)
        elif demo:
            onset = settings.demo.onset if demo_onset is None else demo_onset
            emulator = DemoEmulator(
                onset_seconds=onset, latency_scale=settings.demo.latency_scale, seed=settings.demo.seed
            )
            demo_info = emulator.start()
        return eventloop.run(_serve(settings, demo_info, listen or settings.listen_address, out))
    except (StartupError, StoreError, RuntimeError) as error:
        print(f"live-monitor run: cannot start: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    finally:
        if emulator is not None:
            emulator.stop()


async def _metrics(
    settings: MonitorSettings,
    registry: CollectorRegistry,
    regimes: RegimeTracker,
    store: Store,
    demo: DemoInfo | None,
) -> tuple[ProbeMetrics, list[ModelInfo]]:
    """The daemon's metrics with every job's series created, and its regimes seeded from the store."""
    metrics = ProbeMetrics(registry, regimes=regimes)
    infos = [ModelInfo(model=m.id, family=m.family, alias=m.alias) for m in settings.models]
    for model, info in zip(settings.models, infos, strict=True):
        endpoint = settings.endpoint_of(model)
        metrics.register_targets(
            endpoint.name,
            [info],
            settings.kinds_of(model),
            credentials_phase=_credentials_phase(endpoint, demo),
        )
    # An episode that began before a restart keeps its onset: the tracker starts from the stored turns.
    seeded = await asyncio.get_running_loop().run_in_executor(
        None, seed_from_store, regimes, store, datetime.now(UTC)
    )
    metrics.show_regimes(seeded)
    return metrics, infos


async def _serve(
    settings: MonitorSettings, demo: DemoInfo | None, listen: tuple[str, int], out: TextIO
) -> int:
    log = get_logger("monitor.daemon")
    plan = settings.targets(url=demo.url if demo else None, api_key=DEMO_API_KEY if demo else None)
    jobs = [ProbeJob(target, kind) for target, kind in plan]
    try:
        settings.store.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"store directory {str(settings.store.path.parent)!r}: cannot create: {error.strerror}"
        ) from None
    store = Store(settings.store.path, exclusive=True)
    registry = CollectorRegistry()
    regimes = RegimeTracker(expected_rates={m.id: m.expected_failure_rate for m in settings.models})
    metrics, infos = await _metrics(settings, registry, regimes, store, demo)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP,
        lambda: log.warning(
            "sighup_ignored", note="configuration is read at start; restart to apply changes"
        ),
    )
    scheduler: ProbeScheduler | None = None
    try:
        async with http_client() as http:

            async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> ProbeResult:
                return await run_probe(target, kind, http=http, run_id=run_id)

            scheduler = ProbeScheduler(
                jobs,
                interval=settings.probes.interval,
                probe=probe,
                store=store,
                metrics=metrics,
                budgets=SessionBudgets(
                    sessions_per_minute=settings.budgets.sessions_per_minute,
                    sessions_per_day=settings.budgets.sessions_per_day,
                    max_concurrent_sessions=settings.budgets.max_concurrent_sessions,
                ),
            )
            runner = aioweb.AppRunner(
                build_app(
                    registry=registry,
                    store=store,
                    health=scheduler,
                    models=infos,
                    exposition=metrics.exposition,
                    regimes=regimes,
                ),
                access_log=None,
            )
            await runner.setup()
            site = aioweb.TCPSite(runner, listen[0], listen[1])
            try:
                await site.start()
            except OSError as error:
                await runner.cleanup()
                raise StartupError(f"cannot listen on {listen[0]}:{listen[1]}: {error.strerror}") from None
            port = int(runner.addresses[0][1])  # the bound port, for --listen HOST:0
            _print_banner(out, settings, host=listen[0], port=port, demo=demo, jobs=len(jobs))
            # Everything built so far (settings, jobs, the metrics' per-job state) lives as long as the
            # daemon: move it out of the collector's reach, or each full collection walks it all on the loop
            # that times the probes (tens of ms at 1,000 jobs; docs/metrics.md, benchmarks/metrics_bench.py).
            gc.freeze()
            await scheduler.start()
            retention = asyncio.create_task(_retention_loop(settings, store), name="retention")
            log.info("started", jobs=len(jobs), port=port, demo=demo is not None)
            await stop.wait()
            log.info("stopping", running=len(jobs))
            retention.cancel()
            await scheduler.stop(grace=settings.probes.timeouts.budgets().total)
            await runner.cleanup()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if scheduler is not None and (unsaved := await scheduler.backlog.flush()):
            failure = scheduler.backlog.failure
            log.error("records_not_stored", count=unsaved, error=failure.cause if failure else "")
        await loop.run_in_executor(None, store.close)
    log.info("stopped")
    return 0


def _credentials_phase(endpoint: EndpointSettings, demo: DemoInfo | None) -> Phase | None:
    """Where this endpoint's sessions get their credential before the socket (None: a static API key)."""
    if demo is not None:
        return None
    return {AuthKind.TOKEN: Phase.TOKEN, AuthKind.BEARER: Phase.CREDENTIALS}.get(endpoint.auth)


def _print_banner(
    out: TextIO, settings: MonitorSettings, *, host: str, port: int, demo: DemoInfo | None, jobs: int
) -> None:
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - display only
    base = f"http://{shown}:{port}"
    lines: Sequence[str] = [
        f"live-monitor: {jobs} probe jobs every {settings.probes.interval:g} s, store {settings.store.path}",
        f"  status page  {base}/",
        f"  metrics      {base}/metrics",
        f"  health       {base}/healthz",
    ]
    if demo is not None:
        lines = [
            *lines,
            f"  demo: emulator ({DEMO_SCENARIO}) at {redact_url(demo.url)}",
            f"  demo: the regression begins {_onset_text(demo)}; watch the alias fail "
            "while the pinned -preview-09-2025 stays clean",
        ]
    out.write("\n".join(lines) + "\n")
    out.flush()


def _onset_text(demo: DemoInfo) -> str:
    if demo.onset_at is None:
        return "when that emulator's --onset says"
    return f"at {format_utc(demo.onset_at)} (UTC)"


async def _retention_loop(settings: MonitorSettings, store: Store) -> None:
    log = get_logger("monitor.daemon")
    retention = settings.store.retention
    while True:
        try:
            # On the writer thread, queued behind pending appends: one writer, commits in order.
            await store.apply_retention_async(
                datetime.now(UTC),
                success_days=retention.success_days,
                failure_days=retention.failure_days,
            )
        except sqlite3.Error as error:
            # A full disk must not end retention for the daemon's lifetime: try again next hour.
            log.warning("retention_failed", error=str(error))
        await asyncio.sleep(_RETENTION_EVERY_SECONDS)
