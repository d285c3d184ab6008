"""Store against real SQLite files: round trip, idempotency, retention, filters, schema, and kill -9."""

from __future__ import annotations

import asyncio
import math
import signal
import sqlite3
import statistics
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.store.records import SCHEMA_VERSION, Store, StoreError, TurnKey
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, ok_turn

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
FAILURES = [o for o in Outcome if o is not Outcome.OK]


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


class TestAppend:
    def test_round_trip_is_exact(self, store: Store) -> None:
        results = [ok_turn(minutes_ago(2)), incident_000_failure(minutes_ago(1))]
        for result in results:
            assert store.append(result) is True
        assert store.query() == results

    def test_duplicate_run_id_is_ignored_and_first_record_kept(self, store: Store) -> None:
        first = incident_000_failure(minutes_ago(1), run_id="run-1")
        assert store.append(first) is True
        assert store.append(replace(first, outcome=Outcome.OK, code=None)) is False
        assert store.query() == [first]

    def test_idempotent_across_reopen(self, tmp_path: Path) -> None:
        result = ok_turn(minutes_ago(1), run_id="run-1")
        with_store = Store(tmp_path / "r.db")
        with_store.append(result)
        with_store.close()
        reopened = Store(tmp_path / "r.db")
        assert reopened.append(result) is False
        assert len(reopened) == 1
        reopened.close()

    def test_append_many_is_one_transaction_and_counts_new_records(self, store: Store) -> None:
        first = ok_turn(minutes_ago(3), run_id="a")
        store.append(first)
        batch = [first, incident_000_failure(minutes_ago(2), run_id="b"), ok_turn(minutes_ago(1), run_id="b")]
        assert store.append_many(batch) == 1
        assert [r.run_id for r in store.query()] == ["a", "b"]
        assert store.query(outcomes=[Outcome.SERVER_CLOSE])[0].run_id == "b"

    def test_sub_millisecond_start_is_stored_as_the_record_says(self, store: Store) -> None:
        """The column and the JSON agree (ms, truncated), so a query at the record's time finds it."""
        result = ok_turn(datetime(2026, 5, 27, 17, 42, 0, 123999, tzinfo=UTC))
        store.append(result)
        at = datetime(2026, 5, 27, 17, 42, 0, 123000, tzinfo=UTC)
        assert [r.run_id for r in store.query(since=at)] == [result.run_id]
        assert store.query(until=at) == []

    async def test_append_async_commits_in_order_off_the_loop(self, store: Store) -> None:
        results = [ok_turn(minutes_ago(50 - i)) for i in range(50)]
        inserted = await asyncio.gather(*(store.append_async(r) for r in results))
        assert all(inserted)
        with sqlite3.connect(store.path) as raw:
            ids = [row[0] for row in raw.execute("SELECT run_id FROM probe_records ORDER BY id")]
        assert ids == [r.run_id for r in results]


class TestQuery:
    @pytest.fixture
    def filled(self, store: Store) -> Store:
        for minute in range(10):
            store.append(ok_turn(minutes_ago(minute), model=PINNED, run_id=f"pinned-{minute}"))
            failed = minute % 3 == 0
            probe = ProbeKind.AUDIO if minute % 2 else ProbeKind.TEXT
            result = (
                incident_000_failure(minutes_ago(minute), probe=probe)
                if failed
                else ok_turn(minutes_ago(minute), model=ALIAS, probe=probe, first_audio=0.5 + minute / 100)
            )
            store.append(replace(result, run_id=f"alias-{minute}"))
        return store

    def test_model_probe_and_outcome_filters(self, filled: Store) -> None:
        failures = filled.query(model=ALIAS, outcomes=FAILURES)
        assert [r.run_id for r in failures] == ["alias-9", "alias-6", "alias-3", "alias-0"]
        text = filled.query(model=ALIAS, probe=ProbeKind.TEXT, outcomes=[Outcome.SERVER_CLOSE])
        assert [r.run_id for r in text] == ["alias-6", "alias-0"]
        assert filled.query(model=PINNED, outcomes=FAILURES) == []
        assert filled.query(outcomes=[]) == []
        assert len(filled.query(outcomes=[Outcome.OK, Outcome.SERVER_CLOSE])) == 20

    def test_window_is_since_inclusive_until_exclusive(self, filled: Store) -> None:
        window = filled.query(model=PINNED, since=minutes_ago(5), until=minutes_ago(2))
        assert [r.run_id for r in window] == ["pinned-5", "pinned-4", "pinned-3"]

    def test_limit_and_newest_first(self, filled: Store) -> None:
        newest = filled.query(model=ALIAS, outcomes=FAILURES, limit=2, newest_first=True)
        assert [r.run_id for r in newest] == ["alias-0", "alias-3"]
        oldest = filled.query(model=PINNED, limit=1)
        assert [r.run_id for r in oldest] == ["pinned-9"]

    def test_naive_datetime_is_rejected_naming_the_field(self, store: Store) -> None:
        with pytest.raises(ValueError, match="since: must be an aware datetime"):
            store.query(since=datetime(2026, 5, 27, 17, 0))  # naive on purpose

    def test_count_by_is_the_turns_counter_label_set(self, filled: Store) -> None:
        counts = filled.count_by(model=ALIAS, probe=ProbeKind.TEXT)
        ok = TurnKey(ENDPOINT, ALIAS, ProbeKind.TEXT, Outcome.OK, Cause.NONE, None, Phase.NONE)
        incident = TurnKey(
            ENDPOINT, ALIAS, ProbeKind.TEXT, Outcome.SERVER_CLOSE, Cause.INTERNAL, 1011, Phase.FIRST_RESPONSE
        )
        assert counts == {ok: 3, incident: 2}
        assert sum(filled.count_by(since=minutes_ago(4)).values()) == 10

    def test_first_audio_seconds_ascending_only_turns_with_audio(self, filled: Store) -> None:
        values = filled.first_audio_seconds(model=ALIAS, probe=ProbeKind.AUDIO, since=minutes_ago(60))
        assert values == [0.51, 0.55, 0.57]  # minutes 1, 5, 7; minutes 3 and 9 failed without audio

    @pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 101])
    def test_first_audio_percentiles_are_nearest_rank(self, store: Store, n: int) -> None:
        values = [round(0.3 + ((i * 37) % n) / 100, 4) for i in range(n)]  # a permutation of n values
        for i, value in enumerate(values):
            store.append(ok_turn(minutes_ago(i + 1), first_audio=value))
        store.append(incident_000_failure(minutes_ago(0.5), model=PINNED))  # no audio: not counted
        ascending = sorted(values)
        expected = {p: ascending[math.ceil(p * n / 100) - 1] for p in (50, 95, 100)}
        found = store.first_audio_percentiles(
            model=PINNED, probe=ProbeKind.TEXT, since=minutes_ago(1000), percents=(50, 95, 100)
        )
        assert found == expected
        assert found[50] == statistics.median_low(values)

    def test_first_audio_percentiles_without_audio(self, store: Store) -> None:
        store.append(incident_000_failure(minutes_ago(1)))
        assert store.first_audio_percentiles(model=ALIAS, probe=ProbeKind.TEXT, since=minutes_ago(5)) == {
            50: None,
            95: None,
        }

    def test_jobs_and_models(self, filled: Store) -> None:
        assert filled.jobs() == [(ALIAS, ProbeKind.AUDIO), (ALIAS, ProbeKind.TEXT), (PINNED, ProbeKind.TEXT)]
        assert filled.models() == [ALIAS, PINNED]


class TestRetention:
    def test_failures_outlive_successes(self, store: Store) -> None:
        day = 24 * 60
        store.append(ok_turn(minutes_ago(10 * day), run_id="ok-10d"))
        store.append(ok_turn(minutes_ago(1 * day), run_id="ok-1d"))
        store.append(incident_000_failure(minutes_ago(10 * day), run_id="fail-10d"))
        store.append(replace(ok_turn(minutes_ago(10 * day)), outcome=Outcome.PROBER_ERROR, run_id="bug-10d"))
        store.append(incident_000_failure(minutes_ago(40 * day), run_id="fail-40d"))
        deleted = store.apply_retention(NOW, success_days=7, failure_days=30)
        assert deleted == 2
        assert sorted(r.run_id for r in store.query()) == ["bug-10d", "fail-10d", "ok-1d"]

    async def test_async_retention_runs_behind_queued_appends(self, store: Store) -> None:
        old = ok_turn(minutes_ago(60 * 24 * 9))
        # gather starts the tasks in order: the append reaches the writer thread first.
        inserted, deleted = await asyncio.gather(
            store.append_async(old), store.apply_retention_async(NOW, success_days=7, failure_days=30)
        )
        assert inserted is True
        assert deleted == 1

    def test_days_must_be_positive(self, store: Store) -> None:
        with pytest.raises(ValueError, match="retention: days must be positive"):
            store.apply_retention(NOW, success_days=0, failure_days=30)


class TestFile:
    def test_wal_and_schema_version(self, store: Store) -> None:
        with sqlite3.connect(store.path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        Store(tmp_path / "r.db").close()
        with sqlite3.connect(tmp_path / "r.db") as raw:
            raw.execute("INSERT INTO schema_version VALUES (?, 'future')", (SCHEMA_VERSION + 1,))
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
            Store(tmp_path / "r.db")

    def test_not_a_database(self, tmp_path: Path) -> None:
        (tmp_path / "r.db").write_text("hello, not sqlite" * 100)
        with pytest.raises(StoreError, match="not a usable SQLite store"):
            Store(tmp_path / "r.db")

    def test_missing_file_when_not_creating(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="no such store"):
            Store(tmp_path / "typo.db", read_only=True)
        assert not (tmp_path / "typo.db").exists()


class TestReadOnly:
    """`read_only` (timeline, report): the file is never written, whatever it holds."""

    def test_files_that_are_not_stores_are_refused_untouched(self, tmp_path: Path) -> None:
        empty = tmp_path / "empty.db"
        empty.write_bytes(b"")
        other = tmp_path / "other.db"
        connection = sqlite3.connect(other)
        connection.execute("CREATE TABLE foo (x)")
        connection.commit()
        connection.close()
        for path in (empty, other):
            before = path.read_bytes()
            with pytest.raises(StoreError, match="not a live-monitor store"):
                Store(path, read_only=True)
            assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]

    def test_a_store_is_read_without_a_byte_changed_and_refuses_appends(self, tmp_path: Path) -> None:
        path = tmp_path / "r.db"
        writer = Store(path)
        writer.append(ok_turn(minutes_ago(2), run_id="a"))
        writer.close()  # the last connection checkpoints: no -wal or -shm left
        before = path.read_bytes()
        reader = Store(path, read_only=True)
        try:
            assert [r.run_id for r in reader.query()] == ["a"]
            with pytest.raises(sqlite3.OperationalError, match=r"readonly|query_only"):
                reader.append(ok_turn(minutes_ago(1), run_id="b"))
        finally:
            reader.close()
        assert path.read_bytes() == before

    def test_reads_what_a_running_writer_commits(self, tmp_path: Path) -> None:
        path = tmp_path / "r.db"
        writer = Store(path)
        writer.append(ok_turn(minutes_ago(2), run_id="a"))
        reader = Store(path, read_only=True)
        try:
            writer.append(ok_turn(minutes_ago(1), run_id="b"))
            assert [r.run_id for r in reader.query()] == ["a", "b"]
        finally:
            reader.close()
            writer.close()

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "r.db"
        Store(path).close()
        connection = sqlite3.connect(path)
        connection.execute("INSERT INTO schema_version VALUES (99, 'future')")
        connection.commit()
        connection.close()
        with pytest.raises(StoreError, match="schema version 99 is newer"):
            Store(path, read_only=True)


# A writer process that prints each run_id only after append() returned, as the daemon counts it only then.
_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from monitor.store.records import Store
    from tests.history import incident_000_failure, ok_turn

    store = Store(sys.argv[1])
    start = datetime(2026, 5, 27, 17, 0, tzinfo=UTC)
    for i in range(100000):
        at = start + timedelta(seconds=i)
        result = incident_000_failure(at, run_id=f"run-{i}") if i % 5 == 0 else ok_turn(at, run_id=f"run-{i}")
        store.append(result)
        print(result.run_id, flush=True)
    """
)


def test_sigkill_right_after_append_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    committed = [writer.stdout.readline().strip() for _ in range(40)]
    writer.send_signal(signal.SIGKILL)  # the writer is mid-way through its next append
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    reopened = Store(path)
    try:
        stored = {r.run_id: r for r in reopened.query()}
        assert set(committed) <= set(stored)
        # The restart re-appends what it had in flight: nothing is duplicated.
        assert not any(reopened.append(stored[run_id]) for run_id in committed)
        assert len(reopened) == len(stored)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        reopened.close()


class TestFaults:
    """Issue 13 items 9 and 11: a damaged store, a full disk and a second daemon, each with its real cause."""

    def test_a_store_failing_its_integrity_check_is_refused_with_the_way_out(self, tmp_path: Path) -> None:
        """Valid header, damaged pages: the daemon's (exclusive) open refuses it and says how to move it."""
        path = tmp_path / "records.db"
        store = Store(path)
        store.append_many(ok_turn(minutes_ago(m), run_id=f"r{m}") for m in range(500))
        store.close()
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.seek(size // 2)
            handle.write(b"\xa5" * 8192)
        with pytest.raises(StoreError) as refused:
            Store(path, exclusive=True)
        message = str(refused.value)
        assert message.startswith(f"{path}: failed its integrity check (")
        assert f"mv {path} {path}.corrupt" in message
        # Nothing is held: after moving it aside, a new store opens at the same path.
        path.rename(path.with_name("records.db.corrupt"))
        Store(path, exclusive=True).close()

    def test_a_second_daemon_is_refused_and_told_the_first_ones_pid(self, tmp_path: Path) -> None:
        """The lock is per process and dies with it: refused while the holder lives, free after kill -9."""
        path = tmp_path / "records.db"
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time; from monitor.store.records import Store; "
                "s = Store(sys.argv[1], exclusive=True); print('open', flush=True); time.sleep(60)",
                str(path),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(StoreError) as refused:
                Store(path, exclusive=True)
            assert str(refused.value) == (
                f"{path}: in use by another live-monitor daemon (PID {holder.pid}); stop it, or give this "
                "one its own store.path"
            )
            reader = Store(path)  # readers (timeline --db) take no lock
            reader.close()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
        Store(path, exclusive=True).close()

    def test_a_refused_write_is_reported_by_its_real_cause_and_nothing_is_lost(self, tmp_path: Path) -> None:
        """The disk refuses writes (a file-size limit past the WAL's end: EFBIG, as a full disk's ENOSPC):
        the error is SQLite's own, never `cannot rollback`; the backlog commits every record later."""
        path = tmp_path / "records.db"
        done = subprocess.run(
            [sys.executable, "-c", _DISK_FULL, str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        report = dict(line.split("=", 1) for line in done.stdout.splitlines())
        # SQLite has already rolled back by itself here; a second ROLLBACK used to hide this message.
        assert report["error"] == "disk I/O error", report
        assert "cannot rollback" not in done.stdout + done.stderr
        assert int(report["pending"]) >= 1
        reopened = Store(path)
        try:
            assert [r.run_id for r in reopened.query()] == [f"run-{i}" for i in range(int(report["total"]))]
        finally:
            reopened.close()


# Run in a child process: RLIMIT_FSIZE applies to the whole process, and stdout is a pipe (not limited).
_DISK_FULL = textwrap.dedent(
    """
    import asyncio, os, resource, sys
    from datetime import UTC, datetime, timedelta
    from monitor.store.backlog import Backlog, StoreWriteError
    from monitor.store.records import Store
    from tests.history import ok_turn

    async def main(path):
        store = Store(path, exclusive=True)
        backlog = Backlog(store)
        start = datetime(2026, 5, 27, 17, 0, tzinfo=UTC)
        turn = lambda i: ok_turn(start + timedelta(seconds=i), run_id=f"run-{i}")
        i = 0
        for i in range(5):
            await backlog.commit(turn(i))
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        wal = os.path.getsize(path + "-wal")
        resource.setrlimit(resource.RLIMIT_FSIZE, (wal + 1500, hard))
        error = None
        while error is None:
            i += 1
            try:
                await backlog.commit(turn(i))
            except StoreWriteError as failure:
                error = str(failure)
        for _ in range(3):
            i += 1
            try:
                await backlog.commit(turn(i))
            except StoreWriteError:
                pass
        pending = backlog.pending
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        i += 1
        committed = await backlog.commit(turn(i))
        assert len(committed) == pending + 1, (len(committed), pending)
        assert backlog.failure is None
        store.close()
        print(f"error={error}", f"pending={pending}", f"total={i + 1}", sep="\\n")

    asyncio.run(main(sys.argv[1]))
    """
)
