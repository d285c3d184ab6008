"""The commands run on uvloop where it is installed (it is, with the project, on Linux)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from monitor import eventloop


async def _loop_and_answer() -> tuple[asyncio.AbstractEventLoop, int]:
    await asyncio.sleep(0)
    return asyncio.get_running_loop(), 42


def test_commands_run_on_uvloop() -> None:
    loop, answer = eventloop.run(_loop_and_answer())
    assert isinstance(loop, uvloop.Loop)
    assert answer == 42
    assert loop.is_closed()  # the runner closes what it opened


def test_standard_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an import on a platform without it sees
    assert eventloop.loop_factory() is None
    loop, _ = eventloop.run(_loop_and_answer())
    assert not isinstance(loop, uvloop.Loop)
