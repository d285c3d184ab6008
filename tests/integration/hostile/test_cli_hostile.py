"""`live-monitor probe` against the hostile server returns within its bound and says what went wrong."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from tests.integration.hostile.server import MODES
from tests.unit.live.scripted_server import serve

ROOT = Path(__file__).resolve().parents[3]
CANARY = "CANARY-hostile-cli-not-a-real-key"
# The default close limit (2 s) past the turn, plus interpreter start-up on a loaded machine.
BOUND_SECONDS = 12.0


async def _probe(url: str, *args: str) -> tuple[int, str, str, float]:
    env = {**os.environ, "GEMINI_API_KEY": CANARY}
    start = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "probe", "--model", "gemini-hostile", "--url", url, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode(), time.monotonic() - start


async def test_a_server_that_never_answers_our_close_no_longer_holds_the_command() -> None:
    """A complete turn, then frames without end: exit 0 within seconds (it took 121.6 s against 50 s)."""
    async with serve(MODES["never_closes"]) as url:
        code, stdout, stderr, seconds = await _probe(url, "--json")
    assert code == 0, stderr
    assert seconds < BOUND_SECONDS
    record = json.loads(stdout.splitlines()[0])
    assert (record["outcome"], record["close_initiator"]) == ("ok", "client")
    assert CANARY not in stdout + stderr


async def test_a_deeply_nested_frame_is_a_protocol_error_and_no_traceback() -> None:
    """10k-deep JSON: exit 1, a protocol_error naming the limit, nothing like a traceback on stderr."""
    async with serve(MODES["deep_nesting"]) as url:
        code, stdout, stderr, seconds = await _probe(url, "--json")
    assert code == 1
    assert seconds < BOUND_SECONDS
    record = json.loads(stdout.splitlines()[0])
    assert record["outcome"] == "protocol_error"
    assert "limits.json_depth" in record["detail"]
    assert "Traceback" not in stderr
