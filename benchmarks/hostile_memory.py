"""Hostile memory: RSS growth of the probing process across N turns of each hostile-server mode.

The misbehaving Live API server of `tests/integration/hostile/server.py` runs in its own process (its memory
is not ours to count); the real probe (`run_probe`, default `ProbeLimits`, short budgets so endless modes end
quickly) runs N turns of every mode, `--concurrency` at a time, as the daemon runs its jobs. For each mode:
the resident set after a warm-up of 20 turns, after N turns (both after a garbage collection), the growth
between them, and the process's high-water mark. A leak shows as growth that scales with N; the bound on
what one turn may hold shows in the high-water mark.

    .venv/bin/python benchmarks/hostile_memory.py [--turns 1000] [--concurrency 8] [--modes a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.probe.outcome import ProbeKind
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeLimits, ProbeTarget
from tests.integration.hostile.server import MODES
from tests.unit.live.scripted_server import PATH

BUDGETS = PhaseBudgets(connect=1.0, setup=0.5, first_response=0.3, turn=0.4)
LIMITS = ProbeLimits(close_seconds=0.2)  # every other limit at its default
WARMUP = 20
SLOW_LORIS = "slow_loris"


def _serve(ports: multiprocessing.Queue[tuple[int, int]]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await MODES[request.match_info["mode"]](ws, request)
        if not ws.closed:
            await ws.close()
        return ws

    async def loris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            for byte in b"HTTP/1.1 101 Switching Protocols\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)
        writer.close()

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{mode}" + PATH, handler)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        slow = await asyncio.start_server(loris, "127.0.0.1", 0)
        ports.put((port, slow.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def _status(field: str) -> float:
    """A /proc/self/status field in MB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


async def _turns(url: str, count: int, concurrency: int, http: aiohttp.ClientSession) -> Counter[str]:
    target = ProbeTarget(
        endpoint="gemini-api", url=url, model="gemini-hostile", budgets=BUDGETS, limits=LIMITS,
        pace_audio=False, recover=False,
    )  # fmt: skip
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            result = await run_probe(target, ProbeKind.TEXT, http=http)
        outcomes[result.outcome.value] += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return outcomes


async def _run(turns: int, concurrency: int, modes: list[str], port: int, loris_port: int) -> float:
    worst = 0.0
    columns = ("RSS warm MB", "RSS end MB", "growth MB", "HWM MB", "s")
    print(f"{'mode':<22} {'outcomes':<28} " + " ".join(columns))
    async with aiohttp.ClientSession() as http:
        for mode in modes:
            if mode == SLOW_LORIS:
                url = f"ws://127.0.0.1:{loris_port}{PATH}"
            else:
                url = f"ws://127.0.0.1:{port}/{mode}{PATH}"
            start = time.monotonic()
            await _turns(url, WARMUP, concurrency, http)
            gc.collect()
            warm = _status("VmRSS")
            outcomes = await _turns(url, turns, concurrency, http)
            gc.collect()
            end = _status("VmRSS")
            growth = end - warm
            worst = max(worst, growth)
            seen = ",".join(f"{k}:{v}" for k, v in outcomes.most_common())
            elapsed = time.monotonic() - start
            print(
                f"{mode:<22} {seen:<28} {warm:>11.1f} {end:>10.1f} {growth:>9.1f} "
                f"{_status('VmHWM'):>6.1f} {elapsed:>5.1f}",
                flush=True,
            )
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    all_modes = [*MODES, SLOW_LORIS]
    parser.add_argument("--modes", default=",".join(all_modes), help=f"comma-separated, of {all_modes}")
    args = parser.parse_args()
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in all_modes]
    if unknown:
        parser.error(f"unknown modes {unknown}")
    ports: multiprocessing.Queue[tuple[int, int]] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        port, loris_port = ports.get(timeout=30)
        load = os.getloadavg()
        machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs"
        print(
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}, Python {platform.python_version()}, "
            f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; {args.turns} turns per mode, "
            f"{args.concurrency} at a time, budgets {BUDGETS}, close {LIMITS.close_seconds} s"
        )
        worst = asyncio.run(_run(args.turns, args.concurrency, modes, port, loris_port))
    finally:
        server.terminate()
        server.join(5)
    print(f"largest RSS growth across {args.turns} turns of one hostile mode: {worst:.1f} MB")


if __name__ == "__main__":
    main()
