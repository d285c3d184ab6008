"""The store's lock file: one daemon per store, and the one refused names the PID of the one running.

Two daemons on one store would spend the key's quota twice and mix their results on one page. The daemon
takes an exclusive `flock` on `<store>.lock` for its lifetime and writes its PID there. The kernel drops the
lock when the process dies, even by `kill -9`, so a stale file never blocks a restart. Readers (`timeline
--db`, `report --db`) take no lock: SQLite's WAL lets them read beside the daemon.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from monitor.store.schema import StoreError

__all__ = ["StoreLock"]


class StoreLock:
    """An exclusive lock on `<store>.lock`, held until `release` or the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, store: Path) -> StoreLock:
        """Lock `store`'s lock file, or raise StoreError naming the PID that holds it."""
        path = store.with_name(store.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise StoreError(f"{path}: cannot open the store's lock file: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"{store}: in use by another live-monitor daemon (PID {holder}); stop it, or give this one "
                "its own store.path"
            ) from None
        except OSError as error:
            os.close(fd)
            raise StoreError(f"{path}: cannot lock: {error.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
