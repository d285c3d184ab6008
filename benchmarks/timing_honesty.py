"""Timing honesty: does the probe's `first_audio` measure what the server did?

A minimal Live API server (its own process, real sockets on 127.0.0.1) answers setup, then holds the first
audio chunk for exactly D seconds after the turn's last client frame arrives (sleeping to D - 2 ms, then
spinning on perf_counter so the server's own jitter is not what we measure). The real probe (`run_probe`)
runs N text turns against it; we report |first_audio - D| at p50/p99/max. The error includes two loopback
transits and both event loops' scheduling: that is the honest floor of the measurement.

    .venv/bin/python benchmarks/timing_honesty.py [--probes 200] [--delay 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import struct
import time
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from monitor import eventloop
from monitor.probe.outcome import ProbeKind, TimingPhase
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeTarget

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
_SPIN_SECONDS = 0.002


def _speech(seconds: float) -> str:
    count = int(24_000 * seconds)
    samples = [int(3000 * math.sin(2 * math.pi * 440 * i / 24_000)) for i in range(count)]
    return base64.b64encode(struct.pack(f"<{count}h", *samples)).decode()


def _serve(delay: float, port_queue: multiprocessing.Queue[int], holds: multiprocessing.Queue[float]) -> None:
    # The server is the measuring instrument: let it preempt the rest of a shared machine when allowed.
    with contextlib.suppress(PermissionError):
        os.nice(-10)
    chunk = json.dumps(
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000",
                                                                    "data": _speech(0.5)}}]}}}
    ).encode()  # fmt: skip
    done = [
        json.dumps({"serverContent": {"outputTranscription": {"text": "Paris."}}}).encode(),
        json.dumps({"serverContent": {"turnComplete": True}}).encode(),
    ]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            received = time.perf_counter()
            payload = json.loads(message.data)
            if "setup" in payload:
                await ws.send_bytes(b'{"setupComplete": {}}')
            elif "clientContent" in payload:
                await asyncio.sleep(max(0.0, delay - _SPIN_SECONDS - (time.perf_counter() - received)))
                while time.perf_counter() - received < delay:
                    pass
                await ws.send_bytes(chunk)
                holds.put(time.perf_counter() - received)  # the hold the server really applied
                for frame in done:
                    await ws.send_bytes(frame)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get(PATH, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def _measure(url: str, probes: int, delay: float) -> list[float]:
    """first_audio per probe."""
    target = ProbeTarget(
        endpoint="gemini-api", url=url, model="benchmark", api_key=SecretStr("benchmark-key"),
        budgets=PhaseBudgets(first_response=delay + 5, turn=delay + 10), recover=False,
    )  # fmt: skip
    errors: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(probes):
            result = await run_probe(target, ProbeKind.TEXT, http=http)
            if not result.ok:
                raise SystemExit(f"probe failed: {result.outcome} {result.detail}")
            errors.append(result.timings[TimingPhase.FIRST_AUDIO])
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument(
        "--delay", type=float, default=0.3, help="D: seconds the server holds the first chunk"
    )
    args = parser.parse_args()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    holds_queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.delay, ports, holds_queue), daemon=True)
    server.start()
    try:
        url = f"ws://127.0.0.1:{ports.get(timeout=10)}{PATH}"
        measured = eventloop.run(_measure(url, args.probes, args.delay))  # the commands' loop
        holds = [holds_queue.get(timeout=10) for _ in measured]
    finally:
        server.terminate()
        server.join()
    errors = [m - args.delay for m in measured]
    absolute = [abs(e) * 1000 for e in errors]
    # Against the hold the server actually applied (its own oversleep removed): transit + client scheduling.
    transit = [(m - h) * 1000 for m, h in zip(measured, holds, strict=True)]
    load = os.getloadavg()
    print(f"timing honesty: {args.probes} probes, D = {args.delay * 1000:.0f} ms")
    p50, p99 = _percentile(absolute, 0.5), _percentile(absolute, 0.99)
    mean = statistics.fmean(errors) * 1000
    print(f"  |first_audio - D|  p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {max(absolute):.2f} ms")
    print(f"  mean signed error {mean:+.2f} ms")
    print(
        f"  first_audio - actual server hold: p50 {_percentile(transit, 0.5):.2f} ms"
        f"  p99 {_percentile(transit, 0.99):.2f} ms  max {max(transit):.2f} ms"
    )
    print(f"  machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"  date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"  target p99 < 5 ms: {'met' if p99 < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
