"""The store's SQLite file: its schema and migrations, how it is opened, and how a result becomes a row.

`store.py` owns the queries and retention on top of this. `docs/store.md` explains the schema and the
durability choice (WAL + synchronous=FULL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from monitor.probe.outcome import TimingPhase
from monitor.probe.record import ProbeResult, parse_utc

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "StoreError",
    "check_integrity",
    "connect",
    "connect_read_only",
    "epoch_ms",
    "migrate",
    "record_row",
]

# Each migration moves the schema from version N-1 to N; never edit one that has shipped, append a new one.
MIGRATIONS: Final[Sequence[Sequence[str]]] = (
    (
        """CREATE TABLE probe_records (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            started_at_ms INTEGER NOT NULL,  -- Unix epoch milliseconds (the record's precision)
            endpoint TEXT NOT NULL,
            model TEXT NOT NULL,
            probe TEXT NOT NULL,
            outcome TEXT NOT NULL,
            cause TEXT NOT NULL,
            code INTEGER,
            phase TEXT NOT NULL,
            first_audio REAL,                -- seconds; copied out of the JSON for percentile queries
            record TEXT NOT NULL             -- the probe record (docs/probe.md): ProbeResult.to_record()
        )""",
        # Covers the status page's per-job counts and latency percentiles, so they never read the wide rows.
        """CREATE INDEX probe_records_job_time
            ON probe_records (model, probe, started_at_ms, outcome, code, first_audio)""",
        "CREATE INDEX probe_records_time ON probe_records (started_at_ms)",
        # Failures are rare: "the last failures of a job" must not scan a year of successes.
        """CREATE INDEX probe_records_job_failures ON probe_records (model, probe, started_at_ms)
            WHERE outcome <> 'ok'""",
        # The jobs ever seen, so the status page lists them without a DISTINCT over every record.
        """CREATE TABLE jobs (model TEXT NOT NULL, probe TEXT NOT NULL, PRIMARY KEY (model, probe))
            WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

COLUMNS: Final = (
    "run_id, started_at_ms, endpoint, model, probe, outcome, cause, code, phase, first_audio, record"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


class StoreError(Exception):
    """The file cannot be used as a store: not SQLite, or written by a newer live-monitor."""


def epoch_ms(moment: datetime, field: str) -> int:
    """Whole milliseconds at or after `moment` (records have ms precision, so `>=`/`<` stay exact)."""
    if moment.tzinfo is None:
        raise ValueError(f"{field}: must be an aware datetime (UTC), got a naive one: {moment.isoformat()}")
    return -((_EPOCH - moment) // _MS)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL: committed means fsynced (docs/store.md)."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a commit happens exactly where we say.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA busy_timeout = 5000")  # another process (timeline --db) may lock it
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
    except BaseException:
        connection.close()  # e.g. "file is not a database"
        raise
    return connection


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A query-only connection that never writes the file: no migration, no journal-mode change, and a file
    that is not a store of this schema (another program's database, an empty file) is refused untouched."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA busy_timeout = 5000")  # the daemon may be committing
        connection.execute("PRAGMA query_only = ON")
        try:
            current = _version(connection)
        except sqlite3.OperationalError as error:
            if "no such table" not in str(error):
                raise
            raise StoreError(f"{path}: not a live-monitor store (it has no schema_version table)") from None
        if current > SCHEMA_VERSION:
            raise StoreError(_newer(path, current))
        if current < SCHEMA_VERSION:
            raise StoreError(
                f"{path}: schema version {current}, older than this live-monitor's {SCHEMA_VERSION}; the "
                "daemon migrates it the next time it opens the store"
            )
    except BaseException:
        connection.close()
        raise
    return connection


def _version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)


def _newer(path: Path, version: int) -> str:
    return (
        f"{path}: schema version {version} is newer than this live-monitor understands ({SCHEMA_VERSION}); "
        "upgrade live-monitor"
    )


def check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a store whose pages are damaged (`PRAGMA quick_check`: every page and index entry, O(size)).

    A valid header over corrupted pages opens fine and fails only on the first read that touches them; found
    at start, the daemon refuses to run on it and says how to move it aside (docs/store.md).
    """
    try:
        rows = [str(row[0]) for row in connection.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as error:
        rows = [str(error)]
    if rows != ["ok"]:
        raise StoreError(
            f"{path}: failed its integrity check ({'; '.join(rows)[:300]}); keep it for recovery and start a "
            f"new store: mv {path} {path}.corrupt (docs/store.md, 'A damaged store', salvages its records)"
        )


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations the file lacks, in one transaction; refuse a schema newer than the code."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)"
        )
        current = _version(connection)
        if current > SCHEMA_VERSION:
            raise StoreError(_newer(path, current))
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version - 1]:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version VALUES (?, ?)", (version, datetime.now(UTC).isoformat())
            )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            with suppress(sqlite3.Error):  # keep the real cause, not "cannot rollback"
                connection.execute("ROLLBACK")
        raise


def record_row(result: ProbeResult) -> tuple[object, ...]:
    """The probe_records row of a result, in COLUMNS order."""
    record = result.to_record()
    return (
        result.run_id,
        # From the record's own (millisecond, truncated) timestamp, so column and JSON always agree.
        epoch_ms(parse_utc(record["started_at"]), "started_at"),
        result.endpoint,
        result.model,
        result.probe.value,
        result.outcome.value,
        result.cause.value,
        result.code,
        result.phase.value,
        record["timings"][TimingPhase.FIRST_AUDIO.value],
        json.dumps(record, separators=(",", ":"), ensure_ascii=False),
    )
