"""What credentials cost a probe: the OAuth refresh (kept off the event loop) and the ephemeral-token mint.

The emulator runs on its own thread and event loop (as `run --demo` runs it), so the probe's loop measures
only its own work. Two figures:

- refresh: N google-auth refreshes of a service-account key against the emulator's OAuth endpoint, which
  answers 100 ms late (RS256 signing + one HTTP round trip, in a worker thread): their duration, and the
  largest lag the probe's event loop saw meanwhile (a 1 ms ticker).
  As a control, the same refreshes run on the loop itself (what a naive client would do) with the same ticker.
- mint: N `POST /v1alpha/auth_tokens` mints, timed as the record's `timings.token` is (marks around the
  request).

    .venv/bin/python benchmarks/credentials.py [--n 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import google.auth.transport.requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.clock import SYSTEM_CLOCK
from monitor.config.credentials import load_google_credentials
from monitor.emulator import RunningEmulator, Scenario, start_emulator
from monitor.live.conversation import Trace
from monitor.probe.ephemeral import EphemeralTokens, TokenOptions
from monitor.probe.oauth import GoogleAccessTokens


class EmulatorThread:
    def __init__(self) -> None:
        self.ready = threading.Event()
        self.running: RunningEmulator | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # The OAuth endpoint answers 100 ms late (a slow Google): a refresh on the loop stalls it that long.
        slow = {"kind": "delay", "at": "oauth_token", "delay_ms": [100, 100]}
        scenario = Scenario.model_validate({"name": "bench", "faults": [slow]})
        async with start_emulator(scenario, latency_scale=0.0) as running:
            self.running = running
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> RunningEmulator:
        self._thread.start()
        self.ready.wait(30)
        assert self.running is not None
        return self.running

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def _ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - before - 0.001)


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def measure(emulator: RunningEmulator, n: int, key_path: Path) -> str:
    credentials = load_google_credentials(key_path).credentials
    refresh_seconds: list[float] = []
    lags: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lags, stop))
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            source = GoogleAccessTokens(credentials)  # no token yet: the probe waits for one refresh
            start = time.perf_counter()
            await source.credential(http, SYSTEM_CLOCK, Trace())
            refresh_seconds.append(time.perf_counter() - start)
        stop.set()
        await ticker
        blocked: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticker(blocked, stop))
        await asyncio.sleep(0.01)
        request = google.auth.transport.requests.Request()
        for _ in range(n):
            credentials.refresh(request)  # type: ignore[no-untyped-call]  # the control: on the loop
            await asyncio.sleep(0)
        stop.set()
        await ticker
        options = TokenOptions(service_url=emulator.http_url + "/v1alpha/auth_tokens")
        tokens = EphemeralTokens("bench-key", options)
        mint_seconds = []
        for _ in range(n):
            trace = Trace()
            await tokens.credential(http, SYSTEM_CLOCK, trace)
            mint_seconds.append(trace.marks["token_end"] - trace.marks["token_start"])
    return (
        f"refresh (n={n}): p50 {_ms(refresh_seconds, 50):.1f} ms, p99 {_ms(refresh_seconds, 99):.1f} ms; "
        f"event-loop lag during refreshes: max {max(lags) * 1000:.1f} ms, p99 {_ms(lags, 99):.2f} ms "
        f"(control, refresh on the loop: max {max(blocked) * 1000:.1f} ms); "
        f"mint (n={n}): p50 {_ms(mint_seconds, 50):.1f} ms, p99 {_ms(mint_seconds, 99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    with EmulatorThread() as emulator, tempfile.TemporaryDirectory() as directory:
        assert emulator.state is not None
        info = emulator.state.oauth.new_service_account(token_uri=emulator.http_url + "/token")
        key_path = Path(directory) / "sa.json"
        key_path.write_text(json.dumps(info))
        print(asyncio.run(measure(emulator, args.n, key_path)))


if __name__ == "__main__":
    main()
