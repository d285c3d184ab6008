"""The event loop every command runs on: uvloop (libuv), and asyncio's own loop where uvloop is missing.

A probe turn is mostly event-loop work: the upgrade, a few dozen frames woken one read at a time, the TLS
records, the close. uvloop does that work in C; on a 2-core VM it cut a text turn's CPU by about a tenth
over ws and over wss, 1,000 turns in one process on each loop (docs/probe.md, "CPU per turn"), and the
timing-honesty benchmark's error stayed where it was (the marks are taken with `time.monotonic()` as each
frame is handed over, not with the loop's clock). uvloop has no Windows build: there, and wherever it
cannot be imported, the standard loop runs the same code.

The library code (`monitor.live`, `monitor.probe`, the daemon) does not depend on which loop runs it; the
test suite runs it on asyncio's loop in-process and on this one through the commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

_T = TypeVar("_T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None (asyncio's default) where uvloop is not installed."""
    try:
        import uvloop  # noqa: PLC0415 - optional at run time: no build for every platform
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run(main)` on the commands' loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
