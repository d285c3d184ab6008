"""Store: the durable SQLite history of probe records, its queries and its retention.

One row per probe turn holds the exact `ProbeResult.to_record()` JSON plus the columns queries filter on
(schema, opening and migrations: `store_schema.py`). `docs/store.md` has the schema, the durability
argument, retention and the measured growth per model-year.

Durability: WAL journal with `synchronous=FULL`, so a record is on disk (WAL fsynced) when `append` returns:
it survives `kill -9` and also a power loss. NORMAL would survive only the first. At a few commits per second
the fsync costs nothing in throughput; its latency (0.5 ms median here, up to ~16 ms on a busy disk) is why
the daemon should write through `append_async`, which runs appends in order on one dedicated writer thread and
keeps the event loop free. Reads use a second connection (WAL readers never block the writer) and are cheap
enough for a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.store.lock import StoreLock
from monitor.store.schema import (
    COLUMNS,
    SCHEMA_VERSION,
    StoreError,
    check_integrity,
    connect,
    connect_read_only,
    epoch_ms,
    migrate,
    record_row,
)

__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "TurnKey"]

_T = TypeVar("_T")


class TurnKey(NamedTuple):
    """The label set of `gemini_live_probe_turns_total`, as the store counts it."""

    endpoint: str
    model: str
    probe: ProbeKind
    outcome: Outcome
    cause: Cause
    code: int | None
    phase: Phase


class Store:
    """The probe-record store in one SQLite file; thread-safe, one writer connection and one reader."""

    def __init__(self, path: str | Path, *, exclusive: bool = False, read_only: bool = False) -> None:
        """Open (or create) the store. `exclusive` (the daemon): hold the store's lock file for as long as it
        is open, so a second daemon on the same file refuses to start, and check its integrity first.
        `read_only` (timeline, report): an existing store of this schema, opened so that the file is never
        written; its one connection is query-only, so an append fails instead of writing."""
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no such store (run the daemon first, or check --db)")
        self._lock = StoreLock.acquire(self.path) if exclusive else None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        try:
            self._writer, self._reader = self._connections(exclusive=exclusive, read_only=read_only)
        except sqlite3.DatabaseError as exc:
            self._release()
            raise StoreError(f"{self.path}: not a usable SQLite store: {exc}") from exc
        except BaseException:
            self._release()
            raise

    def _connections(
        self, *, exclusive: bool, read_only: bool
    ) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """(writer, reader); read-only, one query-only connection is both: an append fails, never writes."""
        if read_only:
            connection = connect_read_only(self.path)
            return connection, connection
        writer = connect(self.path)
        try:
            if exclusive:
                check_integrity(writer, self.path)
            with self._write_lock:
                migrate(writer, self.path)
            reader = connect(self.path)
            reader.execute("PRAGMA query_only = ON")
        except BaseException:
            writer.close()
            raise
        return writer, reader

    def _release(self) -> None:
        self._writer_thread.shutdown(wait=False)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def close(self) -> None:
        """Finish queued appends, then close; the last connection to close checkpoints the WAL."""
        self._writer_thread.shutdown(wait=True)
        with self._write_lock:
            self._writer.close()
        with self._read_lock:
            self._reader.close()
        self._release()

    # -- writing ---------------------------------------------------------------------------------------------

    def append(self, result: ProbeResult) -> bool:
        """Commit one record; True if it was new, False if its run_id was already stored (ignored)."""
        return self.append_many((result,)) == 1

    def append_many(self, results: Iterable[ProbeResult]) -> int:
        """Commit records in one transaction (imports, benchmarks); return how many were new."""
        rows = [record_row(result) for result in results]
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                inserted = 0
                for row in rows:
                    inserted += self._writer.execute(
                        f"INSERT INTO probe_records ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "  # noqa: S608 - constant
                        "ON CONFLICT (run_id) DO NOTHING",
                        row,
                    ).rowcount
                self._writer.executemany(
                    "INSERT INTO jobs VALUES (?, ?) ON CONFLICT DO NOTHING",
                    {(row[3], row[4]) for row in rows},
                )
                self._writer.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return inserted

    def _rollback(self) -> None:
        # SQLite rolls back by itself on some errors (SQLITE_FULL, I/O errors): a second ROLLBACK would raise
        # "cannot rollback - no transaction is active" and hide the real cause, which is what we re-raise.
        if self._writer.in_transaction:
            with suppress(sqlite3.Error):
                self._writer.execute("ROLLBACK")

    async def run_on_writer(self, work: Callable[[], _T]) -> _T:
        """Run `work` on the store's one writer thread, in order with every queued append."""
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, work)

    async def append_async(self, result: ProbeResult) -> bool:
        """`append` on the store's writer thread: committed when the await returns; the loop never waits."""
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, self.append, result)

    def apply_retention(self, now: datetime, *, success_days: float, failure_days: float) -> int:
        """Delete successes older than `success_days` and failures older than `failure_days`; return how many.

        Every non-ok outcome (prober_error included: it is what we debug) counts as a failure here.
        """
        if success_days <= 0 or failure_days <= 0:
            raise ValueError(
                f"retention: days must be positive (success={success_days}, failure={failure_days})"
            )
        ok_before = epoch_ms(now - timedelta(days=success_days), "now")
        failed_before = epoch_ms(now - timedelta(days=failure_days), "now")
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                deleted = self._writer.execute(
                    "DELETE FROM probe_records WHERE outcome = 'ok' AND started_at_ms < ?", (ok_before,)
                ).rowcount
                deleted += self._writer.execute(
                    "DELETE FROM probe_records WHERE outcome <> 'ok' AND started_at_ms < ?", (failed_before,)
                ).rowcount
                self._writer.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return deleted

    async def apply_retention_async(self, now: datetime, *, success_days: float, failure_days: float) -> int:
        """`apply_retention` on the writer thread, queued behind pending appends."""

        def apply() -> int:
            return self.apply_retention(now, success_days=success_days, failure_days=failure_days)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, apply)

    # -- reading ---------------------------------------------------------------------------------------------

    def _read(self, sql: str, parameters: Sequence[object], convert: Callable[[sqlite3.Cursor], _T]) -> _T:
        with self._read_lock:
            try:
                return convert(self._reader.execute(sql, parameters))
            except sqlite3.DatabaseError as error:
                # Damaged pages ("database disk image is malformed"), a row that is not UTF-8, a lock held
                # past the busy timeout: one StoreError naming the file, for each reader to report.
                raise StoreError(f"{self.path}: cannot read: {str(error)[:200]}") from error

    def query(
        self,
        *,
        model: str | None = None,
        probe: ProbeKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Collection[Outcome] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ProbeResult]:
        """Records with `since <= started_at < until`, in time order; `limit` keeps the first ones."""
        texts = self.query_json(
            model=model,
            probe=probe,
            since=since,
            until=until,
            outcomes=outcomes,
            limit=limit,
            newest_first=newest_first,
        )
        try:
            return [ProbeResult.from_record(json.loads(text)) for text in texts]
        except (ValueError, KeyError, TypeError, RecursionError) as error:  # a row another program wrote
            raise StoreError(
                f"{self.path}: a stored record is not a probe record: {str(error)[:200]}"
            ) from None

    def query_json(
        self,
        *,
        model: str | None = None,
        probe: ProbeKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Collection[Outcome] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[str]:
        """`query`, each record as its stored JSON text (what the API serves: no parse, no re-dump)."""
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=outcomes)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT record FROM probe_records{where} ORDER BY started_at_ms {order}, id {order}"  # noqa: S608
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit: must be >= 0, got {limit}")
            sql += " LIMIT ?"
            parameters.append(limit)
        return self._read(sql, parameters, lambda c: [row[0] for row in c])

    def turn_columns(
        self,
        *,
        model: str,
        probe: ProbeKind,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[int, str, int | None]]:
        """(started_at_ms, outcome, code) of one job's turns in `query`'s order, no record parsed.

        Read from the covering job index alone: what the timeline needs, ~1 µs a turn instead of ~25 µs.
        """
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=None)
        sql = f"SELECT started_at_ms, outcome, code FROM probe_records{where} ORDER BY started_at_ms, id"  # noqa: S608
        return self._read(sql, parameters, lambda c: c.fetchall())

    def origins(
        self, *, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[list[str], list[str]]:
        """The distinct non-empty endpoints and vantages of the records in a window, sorted."""
        where, parameters = _filters(model=model, probe=None, since=since, until=until, outcomes=None)
        # The vantage is only in the JSON; SQLite's own parser reads it far faster than a Python round trip.
        sql = f"SELECT DISTINCT endpoint, json_extract(record, '$.vantage') FROM probe_records{where}"  # noqa: S608
        pairs = self._read(sql, parameters, lambda c: c.fetchall())
        return sorted({e for e, _ in pairs if e}), sorted({str(v) for _, v in pairs if v})

    def get(self, run_id: str) -> ProbeResult | None:
        """The record with this run_id, if stored."""
        return self._read(
            "SELECT record FROM probe_records WHERE run_id = ?",
            (run_id,),
            lambda c: next((ProbeResult.from_record(json.loads(row[0])) for row in c), None),
        )

    def count_by(
        self,
        *,
        model: str | None = None,
        probe: ProbeKind | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[TurnKey, int]:
        """Turns per full `probe_turns_total` label set: what the counters should say, from the records."""
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=None)
        sql = (
            "SELECT endpoint, model, probe, outcome, cause, code, phase, COUNT(*) "  # noqa: S608 - built from constants
            f"FROM probe_records{where} GROUP BY endpoint, model, probe, outcome, cause, code, phase"
        )
        return self._read(
            sql,
            parameters,
            lambda c: {
                TurnKey(e, m, ProbeKind(p), Outcome(o), Cause(ca), co, Phase(ph)): n
                for e, m, p, o, ca, co, ph, n in c
            },
        )

    def outcome_counts(
        self, *, model: str, probe: ProbeKind, since: datetime, until: datetime | None = None
    ) -> dict[tuple[Outcome, int | None], int]:
        """Turns of one job in a window per (outcome, code), from the covering job index alone."""
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=None)
        sql = f"SELECT outcome, code, COUNT(*) FROM probe_records{where} GROUP BY outcome, code"  # noqa: S608
        return self._read(sql, parameters, lambda c: {(Outcome(o), code): n for o, code, n in c})

    def first_audio_percentiles(
        self,
        *,
        model: str,
        probe: ProbeKind,
        since: datetime,
        until: datetime | None = None,
        percents: Sequence[int] = (50, 95),
    ) -> dict[int, float | None]:
        """Nearest-rank percentiles of one job's first-audio latency in a window (None without audio).

        Computed inside SQLite from the covering index, so no list of latencies crosses into Python (which
        would hold the GIL the event loop needs).
        """
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=None)
        ranked = (
            "SELECT first_audio, ROW_NUMBER() OVER (ORDER BY first_audio) AS rank, COUNT(*) OVER () AS n "  # noqa: S608
            f"FROM probe_records{where} AND first_audio IS NOT NULL"
        )
        for percent in percents:
            if not 0 < percent <= 100:
                raise ValueError(f"percents: {percent} is not in (0, 100]")
        # Nearest rank: ceil(p * n / 100), in integers because SQLite may be built without ceil().
        wanted = ",".join("MAX(1, (? * n + 99) / 100)" for _ in percents)
        sql = f"SELECT rank, n, first_audio FROM ({ranked}) WHERE rank IN ({wanted})"  # noqa: S608
        rows = self._read(sql, [*parameters, *percents], lambda c: c.fetchall())
        if not rows:
            return dict.fromkeys(percents)
        by_rank = {rank: value for rank, _, value in rows}
        n = rows[0][1]
        return {percent: by_rank[max(1, (percent * n + 99) // 100)] for percent in percents}

    def first_audio_seconds(
        self, *, model: str, probe: ProbeKind, since: datetime, until: datetime | None = None
    ) -> list[float]:
        """First-audio latencies of one job in a window, ascending (every turn that got audio)."""
        where, parameters = _filters(model=model, probe=probe, since=since, until=until, outcomes=None)
        sql = (
            f"SELECT first_audio FROM probe_records{where} AND first_audio IS NOT NULL "  # noqa: S608
            "ORDER BY first_audio"
        )
        return self._read(sql, parameters, lambda c: [row[0] for row in c])

    def jobs(self) -> list[tuple[str, ProbeKind]]:
        """Every (model, probe) ever stored, sorted."""
        return self._read(
            "SELECT model, probe FROM jobs ORDER BY model, probe",
            (),
            lambda c: [(m, ProbeKind(p)) for m, p in c],
        )

    def models(self) -> list[str]:
        return sorted({model for model, _ in self.jobs()})

    def __bool__(self) -> bool:
        # A store handle is a resource, not a container: `if store:` must not depend on it being empty.
        return True

    def __len__(self) -> int:
        return self._read("SELECT COUNT(*) FROM probe_records", (), lambda c: int(c.fetchone()[0]))


def _filters(
    *,
    model: str | None,
    probe: ProbeKind | None,
    since: datetime | None,
    until: datetime | None,
    outcomes: Collection[Outcome] | None,
) -> tuple[str, list[object]]:
    """A WHERE clause (with placeholders) and its parameters; column order follows the job index."""
    terms: list[str] = []
    parameters: list[object] = []
    if model is not None:
        terms.append("model = ?")
        parameters.append(model)
    if probe is not None:
        terms.append("probe = ?")
        parameters.append(ProbeKind(probe).value)
    if since is not None:
        terms.append("started_at_ms >= ?")
        parameters.append(epoch_ms(since, "since"))
    if until is not None:
        terms.append("started_at_ms < ?")
        parameters.append(epoch_ms(until, "until"))
    if outcomes is not None:
        wanted = sorted({Outcome(o).value for o in outcomes})
        if Outcome.OK.value not in wanted:
            # The literal term lets SQLite use the partial failures index (a bound parameter would not).
            terms.append("outcome <> 'ok'")
        if not wanted:
            terms.append("0")
        elif len(wanted) < len(Outcome) - (Outcome.OK.value not in wanted):
            terms.append(f"outcome IN ({','.join('?' * len(wanted))})")
            parameters.extend(wanted)
    return (" WHERE " + " AND ".join(terms) if terms else " WHERE 1"), parameters
