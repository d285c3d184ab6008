"""Whether the store's path is usable on this machine: checked by `check-config` and before `run` starts.

Not part of validation proper (`report -c` reads a production config on a laptop, where the store's
directory does not exist): a separate check, like the missing-key one. Nothing is created here; the daemon
creates the missing directories when it starts.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["store_problems"]


def store_problems(path: Path) -> list[str]:
    """`store.path: ...` problems: not a regular file, or a directory that cannot be created or written."""
    where = "store.path"
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        return [f"{where}: cannot use {str(path)!r}: {error.strerror}"]
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            return [f"{where}: {str(path)!r} exists and is not a regular file"]
        if not os.access(path, os.R_OK | os.W_OK):
            return [f"{where}: {str(path)!r} is not writable here"]
        directory = path.parent
    else:
        directory = path.parent
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return [f"{where}: cannot create directory {str(directory)!r}: {str(existing)!r} is not a directory"]
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = _why_not_writable(existing)
        verb = "write to" if existing == directory else "create"
        return [f"{where}: cannot {verb} directory {str(directory)!r}: {reason}"]
    return []


def _why_not_writable(directory: Path) -> str:
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return f"{str(directory)!r} is on a read-only file system"
    return f"{str(directory)!r} is not writable here (permissions, or a kernel file system)"
