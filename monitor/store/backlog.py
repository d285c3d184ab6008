"""The daemon's write path into the store: records whose commit failed wait in memory and go in first.

A full disk, a file system remounted read-only or a store locked past its timeout makes a commit fail. The
turn happened all the same: its record is kept (in order, at most `MAX_PENDING`, about 14 hours of the
shipped schedule) and committed, before any newer one, by the next commit that succeeds. `commit` returns
every record that went in, so the caller counts each in the metrics exactly once, after it is on disk.
`failure` says why writes fail (SQLite's own message, e.g. `database or disk is full`) while they do;
`/healthz` reports it.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from monitor.probe.record import ProbeResult
from monitor.store.records import Store

__all__ = ["MAX_PENDING", "Backlog", "StoreWriteError", "WriteFailure"]

MAX_PENDING: Final = 10_000


class StoreWriteError(Exception):
    """A commit failed; the message is the real cause. The record waits in the backlog."""


@dataclass(frozen=True, slots=True)
class WriteFailure:
    cause: str  # SQLite's message, e.g. "database or disk is full"
    since: datetime  # the first failure of this run of failures
    pending: int  # records waiting to be committed
    dropped: int  # records given up because the backlog was full (oldest first)


class Backlog:
    """Commits through one store, keeping what failed to commit until it can be."""

    def __init__(self, store: Store, *, max_pending: int = MAX_PENDING) -> None:
        self._store = store
        self._max_pending = max_pending
        self._pending: deque[ProbeResult] = deque()
        self._failure: WriteFailure | None = None
        self._dropped = 0

    @property
    def failure(self) -> WriteFailure | None:
        """Why writes fail now; None once a commit succeeded."""
        return self._failure

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def commit(self, result: ProbeResult) -> list[ProbeResult]:
        """Commit `result` after the records still pending; return every record committed now, oldest first.

        Raises StoreWriteError (the real cause) when the store refuses the write; `result` is then pending.
        """
        return await self._store.run_on_writer(lambda: self._commit(result))

    def _commit(self, result: ProbeResult) -> list[ProbeResult]:
        # On the store's single writer thread: commits, and with them this deque, are serialised.
        self._pending.append(result)
        while len(self._pending) > self._max_pending:
            self._pending.popleft()
            self._dropped += 1
        batch = list(self._pending)
        try:
            self._store.append_many(batch)
        except sqlite3.Error as error:
            since = self._failure.since if self._failure else datetime.now(UTC)
            self._failure = WriteFailure(str(error), since, len(self._pending), self._dropped)
            raise StoreWriteError(str(error)) from error
        self._pending.clear()
        self._failure = None
        return batch

    async def flush(self) -> int:
        """Try to commit what is pending (at shutdown); return how many records are still not stored."""
        if not self._pending:
            return 0

        def retry() -> int:
            batch = list(self._pending)
            try:
                self._store.append_many(batch)
            except sqlite3.Error:
                return len(batch)
            self._pending.clear()
            self._failure = None
            return 0

        return await self._store.run_on_writer(retry)
