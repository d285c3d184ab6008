"""`live-monitor emulator` as a user runs it: a real process, a real port, real clients, Ctrl-C to stop."""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
import sys
from pathlib import Path

import aiohttp

from tests.integration.emulator.wsclient import setup

ROOT = Path(__file__).resolve().parents[3]


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "emulator", "--port", "0", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(20):
        while not (lines and lines[-1].startswith("Any non-empty API key")):
            lines.append((await process.stdout.readline()).decode().rstrip())
            assert lines[-1] or process.returncode is None, lines
    return process, lines


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(10):
        return await process.wait()


async def test_prints_urls_serves_them_and_stops_cleanly() -> None:
    process, lines = await _start("--scenario", "healthy", "--latency-scale", "0")
    try:
        url = re.search(r"Gemini API v1beta\s+(\S+)", "\n".join(lines))
        assert url is not None, lines
        assert url.group(1).startswith("ws://127.0.0.1:")
        assert any("Vertex AI v1" in line for line in lines)
        async with aiohttp.ClientSession() as http, http.ws_connect(url.group(1) + "?key=k") as ws:
            await ws.send_json(setup())
            frame = await ws.receive(timeout=5)
        assert frame.json() == {"setupComplete": {}}
    finally:
        code = await _stop(process)
    assert code == 0


async def test_tls_self_signed_writes_the_ca_and_serves_wss(tmp_path: Path) -> None:
    process, lines = await _start("--tls-self-signed", str(tmp_path / "ca"), "--latency-scale", "0")
    try:
        ca_file = tmp_path / "ca" / "ca.pem"
        assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert any(str(ca_file) in line for line in lines)
        url = re.search(r"Gemini API v1beta\s+(\S+)", "\n".join(lines))
        assert url is not None
        assert url.group(1).startswith("wss://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(ca_file))
        async with aiohttp.ClientSession() as http, http.ws_connect(url.group(1) + "?key=k", ssl=trust) as ws:
            await ws.send_json(setup())
            frame = await ws.receive(timeout=5)
        assert frame.json() == {"setupComplete": {}}
    finally:
        await _stop(process)


async def test_bad_scenario_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - kind: close\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "emulator", "--scenario", str(bad),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert stderr.decode() == f"live-monitor emulator: {bad}: faults[0]: a close fault needs `code`\n"
