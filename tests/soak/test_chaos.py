"""Chaos soak: `live-monitor run` against an emulator whose fault scenario changes at random every few
seconds, while the store's disk refuses every write twice for a few seconds. Bounded for CI (~75 s).

At the end the daemon is alive and healthy, its RSS grew by no more than a few MB after warm-up, the
`/metrics` turn counters equal the store's counts label set by label set, and no record was lost: every
turn the daemon finished is in the store, including those whose first commit failed.

The emulator runs in this process on its own thread (so the test can switch its scenario); the daemon is a
real subprocess. The disk "goes read-only" through RLIMIT_FSIZE set on the daemon from outside (`prlimit`):
every write to a regular file then fails with EFBIG, as on a full or read-only disk, and no root is needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from monitor.emulator.scenarios import Scenario, load_scenario, scenario_names
from monitor.emulator.server import GEMINI_V1BETA_PATH, STATE_KEY, build_app
from monitor.emulator.state import EmulatorState
from tests.integration.test_daemon import (
    Daemon,
    demo_env,
    free_port,
    read_store,
    scraped_turns,
    stored_turns,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHAOS_SECONDS = 50.0
SWITCH_EVERY = (2.0, 4.0)
DISK_OUTAGES = ((12.0, 6.0), (32.0, 6.0))  # (start after chaos begins, seconds refusing writes)
RSS_GROWTH_LIMIT_KB = 30 * 1024


@contextmanager
def emulator_in_a_thread() -> Iterator[tuple[str, EmulatorState, asyncio.AbstractEventLoop]]:
    """The real emulator on 127.0.0.1 on its own event loop, with its state for switching scenarios."""
    app = build_app(load_scenario("healthy"), seed=13, onset_seconds=0.0, latency_scale=0.25)
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="chaos-emulator", daemon=True)
    thread.start()
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield f"ws://127.0.0.1:{port}{GEMINI_V1BETA_PATH}", app[STATE_KEY], loop
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def test_chaos_soak_daemon_survives_counts_everything_and_loses_nothing(tmp_path: Path) -> None:
    """Random fault scenarios every few seconds plus two disk outages: alive, flat RSS, counters == store."""
    store = tmp_path / "monitor.sqlite3"
    dice = random.Random(int(os.environ.get("CHAOS_SEED", "2026")))
    scenarios = [load_scenario(name) for name in scenario_names()]
    healthy = load_scenario("healthy")
    with emulator_in_a_thread() as (url, state, loop):
        env = demo_env(store) | {"LIVE_MONITOR_DEMO__EMULATOR_URL": url}
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--demo", "--listen", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # a pipe, not a file: the file-size limit must not touch the logs
            text=True,
        )
        logs: list[str] = []
        stderr = process.stderr
        assert stderr is not None
        drain = threading.Thread(target=lambda: logs.extend(stderr), daemon=True)
        drain.start()
        try:
            assert process.stdout is not None
            banner = "".join(process.stdout.readline() for _ in range(5))
            assert "metrics" in banner, banner
            daemon = Daemon(process, port, banner)
            _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

            def switch(scenario: Scenario) -> None:
                loop.call_soon_threadsafe(lambda: state.switch_scenario(scenario, onset=0.0))

            started = time.monotonic()
            warm_rss: int | None = None
            outages = list(DISK_OUTAGES)
            unhealthy_seen: list[dict[str, object]] = []
            played: list[str] = []
            while (elapsed := time.monotonic() - started) < CHAOS_SECONDS:
                scenario = dice.choice(scenarios)
                played.append(scenario.name)
                switch(scenario)
                if outages and elapsed >= outages[0][0]:
                    _, seconds = outages.pop(0)
                    resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (0, hard))
                    until = time.monotonic() + seconds
                    while time.monotonic() < until:
                        status, body = daemon.get("/healthz")
                        if status == 503 and "store" in json.loads(body)["detail"]:
                            unhealthy_seen.append(json.loads(body)["detail"]["store"])
                        time.sleep(0.5)
                    resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (hard, hard))
                else:
                    time.sleep(dice.uniform(*SWITCH_EVERY))
                if warm_rss is None and elapsed > 8.0:
                    warm_rss = rss_kb(process.pid)
                assert process.poll() is None, f"daemon died during {played[-3:]}"

            switch(healthy)
            # The backlog goes in with the next commit; then every job reports again.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status, body = daemon.get("/healthz")
                if status == 200:
                    break
                time.sleep(0.5)
            assert status == 200, body
            for _ in range(100):
                before = scraped_turns(daemon)
                stored = stored_turns(store)
                if before == scraped_turns(daemon):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("never found two equal scrapes in a row")
            assert before == stored
            end_rss = rss_kb(process.pid)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        drain.join(10)

    events = [json.loads(line) for line in logs if line.startswith("{")]
    failed_commits = {e["run_id"] for e in events if e.get("event") == "store_failed"}
    logged = [e["run_id"] for e in events if e.get("event") == "probe"]
    records = read_store(store)
    stored_ids = [str(r["run_id"]) for r in records]
    outcomes = {str(r["outcome"]) for r in records}
    print(
        f"chaos: {len(records)} records, {len(set(played))} scenarios, {len(failed_commits)} first commits "
        f"refused, RSS {warm_rss} -> {end_rss} kB, outcomes {sorted(outcomes)}"
    )
    assert unhealthy_seen, "the refused writes never showed on /healthz"
    assert all(s["writable"] is False and s["error"] for s in unhealthy_seen)
    assert failed_commits, "the disk outages refused no commit"
    assert failed_commits <= set(stored_ids), "a record whose commit failed was lost"
    assert sorted(logged) == sorted(stored_ids)  # every stored turn logged once, and nothing else
    assert len(stored_ids) == len(set(stored_ids))
    assert len(outcomes) >= 4, outcomes  # the faults really reached the probes
    assert not [
        e for e in events if e.get("level") in ("error", "critical") and e.get("event") != "store_failed"
    ]
    assert warm_rss is not None
    assert end_rss - warm_rss < RSS_GROWTH_LIMIT_KB, (warm_rss, end_rss)
