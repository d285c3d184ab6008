"""Every command that writes to stdout ends quietly when its reader has gone (`... | head`), as Unix tools do.

Each command runs as a real subprocess whose stdout is the write end of a real pipe whose read end is already
closed, so its first write fails with EPIPE: no traceback, no "Exception ignored" line, exit status 141
(what a shell reports for a tool ended by SIGPIPE).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.emulator import load_scenario, start_emulator
from tests.integration.timeline.records import incident_records, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
BROKEN_PIPE = 141


def _closed_pipe() -> int:
    """The write end of a pipe nobody will ever read."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def _run_into_closed_pipe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    write_end = _closed_pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", *args],
            stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True,
        )  # fmt: skip
    finally:
        os.close(write_end)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, stderr


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("pipe") / "records.jsonl", incident_records())


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["timeline", "--format", "json"], id="timeline-json"),
        pytest.param(["timeline"], id="timeline-markdown"),
        pytest.param(["report"], id="report-to-stdout"),
    ],
)
def test_history_commands_end_quietly_on_a_closed_pipe(args: list[str], jsonl: Path) -> None:
    """`timeline`/`report` into a closed pipe exit 141 with nothing on stderr."""
    code, stderr = _run_into_closed_pipe(*args, "--jsonl", str(jsonl))
    assert (code, stderr) == (BROKEN_PIPE, "")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check-config", "-c", "config/monitor.yaml"], id="check-config"),
        pytest.param(["emulator", "--port", "0", "--scenario", "healthy"], id="emulator-banner"),
    ],
)
def test_other_commands_end_quietly_on_a_closed_pipe(args: list[str]) -> None:
    """check-config and the emulator's banner into a closed pipe exit 141 with nothing on stderr."""
    code, stderr = _run_into_closed_pipe(*args)
    assert (code, stderr) == (BROKEN_PIPE, "")


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "table"])
async def test_probe_ends_quietly_on_a_closed_pipe(json_lines: bool) -> None:
    """`probe` (JSON lines or the table) into a closed pipe exits 141 with nothing on stderr."""
    env = {**os.environ, "GEMINI_API_KEY": "anything"}
    async with start_emulator(load_scenario("healthy"), latency_scale=0.0) as emulator:
        args = ["probe", "--model", "gemini-3.8-live", "-n", "2", "--url", emulator.url]
        code, stderr = await asyncio.to_thread(
            _run_into_closed_pipe, *args, *(["--json"] if json_lines else []), env=env
        )
    assert (code, stderr) == (BROKEN_PIPE, "")


def test_a_reader_that_stops_early_gets_the_first_lines(jsonl: Path) -> None:
    """`timeline --format json | head -3` prints three lines and the command still ends quietly."""
    command = f"{sys.executable} -m monitor timeline --jsonl {jsonl} --format json | head -3"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.stdout.splitlines()[0] == "{"
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr == ""
    assert result.returncode in (0, BROKEN_PIPE)  # 0 when head read before the writer finished: both fine
