"""`live-monitor run --demo` as a real subprocess: real emulator, real sockets, real SQLite, real /metrics.

Settings come through the environment (LIVE_MONITOR_*), exactly as a container would set them: a 2 s interval,
budgets that fit it, a temp store and an ephemeral port picked just before the start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.probe.record import parse_utc

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
# (model, probe, outcome, code label)
TurnKey = tuple[str, str, str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")}
    env.pop("GEMINI_API_KEY", None)
    env.update(
        {
            "LIVE_MONITOR_STORE__PATH": str(store),
            "LIVE_MONITOR_PROBES__INTERVAL": "2s",
            "LIVE_MONITOR_PROBES__KINDS": '["text", "audio"]',
            "LIVE_MONITOR_PROBES__PACE_AUDIO": "false",
            "LIVE_MONITOR_PROBES__TIMEOUTS__CONNECT": "0.4s",
            "LIVE_MONITOR_PROBES__TIMEOUTS__SETUP": "0.4s",
            "LIVE_MONITOR_PROBES__TIMEOUTS__FIRST_RESPONSE": "1s",
            "LIVE_MONITOR_PROBES__TIMEOUTS__TURN": "1.2s",
            "LIVE_MONITOR_BUDGETS__SESSIONS_PER_MINUTE": "1000",
            "LIVE_MONITOR_BUDGETS__SESSIONS_PER_DAY": "1000000",
            "LIVE_MONITOR_BUDGETS__MAX_CONCURRENT_SESSIONS": "8",
            # Emulator latencies at a quarter keep the turns well inside the 2 s budget on a busy machine.
            "LIVE_MONITOR_DEMO__LATENCY_SCALE": "0.25",
            "LIVE_MONITOR_DEMO__SEED": "7",
        }
    )
    return env


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    port: int
    banner: str

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    @property
    def onset(self) -> datetime:
        found = re.search(r"regression begins at (\S+)", self.banner)
        assert found, self.banner
        return parse_utc(found.group(1))


@contextmanager
def running_daemon(store: Path, *, onset: str = "20s") -> Iterator[Daemon]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--demo",
            "--demo-onset",
            onset,
            "--listen",
            f"127.0.0.1:{port}",
        ],
        cwd=REPO,
        env=demo_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(6))
        assert "metrics" in banner, banner
        daemon = Daemon(process, port, banner)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                daemon.get("/metrics")
                break
            except OSError:
                time.sleep(0.1)
        yield daemon
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def scraped_turns(daemon: Daemon) -> Counter[TurnKey]:
    status, text = daemon.get("/metrics")
    assert status == 200
    counts: Counter[TurnKey] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "gemini_live_probe_turns":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value > 0:
                labels = sample.labels
                key = (labels["model"], labels["probe"], labels["outcome"], labels["code"])
                counts[key] += int(sample.value)
    return counts


def read_store(path: Path) -> list[dict[str, object]]:
    """The records, through a connection of our own (not the daemon's Store)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            json.loads(row[0]) for row in connection.execute("SELECT record FROM probe_records ORDER BY id")
        ]
    finally:
        connection.close()


def records_so_far(path: Path) -> list[dict[str, object]]:
    """The records a starting daemon has committed, for polling: none while the file or its schema is not
    there yet (the daemon creates the file, then its tables in one transaction; a poll can fall between)."""
    if not path.exists():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'probe_records'").fetchone()
    finally:
        connection.close()
    return read_store(path) if found else []


def stored_turns(path: Path) -> Counter[TurnKey]:
    counts: Counter[TurnKey] = Counter()
    for r in read_store(path):
        code = "" if r["code"] is None else str(r["code"])
        counts[str(r["model"]), str(r["probe"]), str(r["outcome"]), code] += 1
    return counts


def wait_for_records(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(records_so_far(path)) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} records after {timeout} s")


def test_demo_daemon_counts_what_it_stores_and_shows_the_alias_regression(tmp_path: Path) -> None:
    store = tmp_path / "monitor.sqlite3"
    with running_daemon(store, onset="20s") as daemon:
        assert f"http://127.0.0.1:{daemon.port}/metrics" in daemon.banner
        assert "ws://127.0.0.1:" in daemon.banner
        time.sleep(60)
        status, body = daemon.get("/healthz")
        assert status == 200, body

        # Probes keep completing while we look: accept a reading only when two scrapes around the store
        # read agree, i.e. no probe finished in between; then the counters must equal the records exactly.
        for _ in range(100):
            before = scraped_turns(daemon)
            stored = stored_turns(store)
            after = scraped_turns(daemon)
            if before == after:
                break
            time.sleep(0.05)
        else:
            pytest.fail("never found two equal scrapes in a row")
        assert before == stored
        assert sum(stored.values()) >= 4 * 2 * 25  # 8 jobs, a 2 s interval, about a minute

        daemon.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert daemon.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5.0  # one probe timeout (2 s) plus closing the store and web app

    records = read_store(store)
    onset = daemon.onset
    pinned = [r for r in records if r["model"] == PINNED]
    assert pinned
    assert all(r["outcome"] == "ok" for r in pinned), Counter(str(r["outcome"]) for r in pinned)
    alias_after = [r for r in records if r["model"] == ALIAS and parse_utc(str(r["started_at"])) > onset]
    failed = [r for r in alias_after if r["outcome"] != "ok"]
    assert len(alias_after) >= 20
    assert len(failed) / len(alias_after) > 0.6  # the scenario fails ~85 % of alias turns after the onset
    assert Counter((r["outcome"], r["code"]) for r in failed).most_common(1)[0][0] == ("server_close", 1011)
    alias_before = [r for r in records if r["model"] == ALIAS and parse_utc(str(r["started_at"])) < onset]
    assert sum(r["outcome"] == "ok" for r in alias_before) >= 0.8 * len(alias_before)


def test_kill_9_then_restart_loses_no_committed_record_and_duplicates_none(tmp_path: Path) -> None:
    store = tmp_path / "monitor.sqlite3"
    with running_daemon(store, onset="0") as daemon:
        wait_for_records(store, 12, timeout=60)
        committed = {str(r["run_id"]): r for r in read_store(store)}
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=10)

    with running_daemon(store, onset="0") as daemon:
        wait_for_records(store, len(committed) + 8, timeout=60)
        daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=10) == 0

    after = read_store(store)
    run_ids = [str(r["run_id"]) for r in after]
    assert len(run_ids) == len(set(run_ids)), "a record was stored twice"
    by_id = {str(r["run_id"]): r for r in after}
    assert all(by_id.get(run_id) == record for run_id, record in committed.items()), (
        "a committed record was lost"
    )
    assert len(after) >= len(committed) + 8


def start_run(store: Path, stderr: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--demo", "--listen", f"127.0.0.1:{free_port()}"],
        cwd=REPO,
        env=demo_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr.open("w"),
        text=True,
    )


def test_a_second_daemon_on_the_same_store_refuses_to_start_and_names_the_first(tmp_path: Path) -> None:
    """Issue 13 item 11: one daemon per store; the second exits 1 at once with the first one's PID."""
    store = tmp_path / "monitor.sqlite3"
    with running_daemon(store) as first:
        second = start_run(store)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert err.strip().endswith(
            f"live-monitor run: cannot start: {store}: in use by another live-monitor daemon "
            f"(PID {first.process.pid}); stop it, or give this one its own store.path"
        )
        status, _ = first.get("/healthz")
        assert first.process.poll() is None
        assert status == 200  # the first one runs on, untouched


def test_a_corrupted_store_refuses_to_start_with_one_clear_line(tmp_path: Path) -> None:
    """Issue 13 item 9: a valid header over damaged pages is found at start, not by the first page view."""
    store = tmp_path / "monitor.sqlite3"
    with running_daemon(store, onset="0"):
        wait_for_records(store, 30, timeout=60)
    connection = sqlite3.connect(store)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    size = store.stat().st_size
    with store.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\xa5" * 8192)
    refused = start_run(store)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1
    assert err.startswith(f"live-monitor run: cannot start: {store}: failed its integrity check (")
    assert f"mv {store} {store}.corrupt" in err
    assert "Traceback" not in err


def test_sighup_is_logged_and_ignored_and_no_probe_is_lost(tmp_path: Path) -> None:
    """Issue 13 item 11: SIGHUP never kills the daemon; in-flight probes complete, stored and counted."""
    store = tmp_path / "monitor.sqlite3"
    log = tmp_path / "daemon.log"
    process = start_run(store, stderr=log)
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(6))
        port = int(re.search(r"127\.0\.0\.1:(\d+)/metrics", banner).group(1))  # type: ignore[union-attr]
        daemon = Daemon(process, port, banner)
        wait_for_records(store, 8, timeout=60)
        for _ in range(5):
            process.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        before = len(read_store(store))
        wait_for_records(store, before + 16, timeout=60)
        assert process.poll() is None
        for _ in range(100):
            scraped, stored = scraped_turns(daemon), stored_turns(store)
            if scraped == stored:
                break
            time.sleep(0.05)
        assert scraped == stored
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert sum(line.get("event") == "sighup_ignored" for line in lines) == 5
    assert not [line for line in lines if line.get("event") == "store_failed"]
