"""CPU per probe turn: `live-monitor probe` against the official google-genai SDK, same server, ws and wss.

    .venv/bin/python benchmarks/turn_cpu.py [--turns 150] [--repeats 5]

The server is the emulator in its own process (`live-monitor emulator --scenario healthy --latency-scale 0`),
once over ws and once over wss (`--tls-self-signed`), so its CPU is not charged to either client. Each client
runs as a child process doing turns one after another, one session per turn (connect, setup, one turn,
close), as `live-monitor probe -n` does:
- probe: `live-monitor probe --model M --probe text|audio -n K --url ws(s)://.../BidiGenerateContent
  --no-pace` (its results table printed at the end);
- sdk: this file with `--sdk`, `client.aio.live.connect(...)` with the probe's setup (same modalities, voice,
  transcriptions, tools, manual activity), `send_client_content` for text; for audio `activity_start`, the
  probe's spoken prompt as 100 ms `send_realtime_input(audio=Blob(...))` chunks (unpaced), `activity_end`;
  then `receive()` until turnComplete.
Both send the same prompt audio (the probe's shipped question, 3.8 s of 16 kHz s16le in 38 chunks), and the
server sends both the same answer. CPU is the child's user+sys (`os.wait4`); per turn = (CPU of 1 + `--turns`
turns - CPU of 1 turn) / `--turns`, which removes interpreter start-up and imports (their run-to-run
variation, ~0.2 s for the SDK's imports, is why the default is 150 turns). Each measurement runs
`--repeats` times, probe and SDK interleaved (this machine is shared and noisy): the median is reported.

The SDK always dials wss; for the ws row the child rewrites its URL's scheme and drops its TLS context.

The TLS floor: a third child (`--tls-floor`) only opens and closes connections to the same server, over TLS
(asyncio's `create_connection` with `ssl.create_default_context()`, full handshake and verification against
SSL_CERT_FILE, the server's session tickets read, close_notify sent) and over plain TCP; the difference per
connection is what any asyncio client pays per wss session before sending a byte, the probe and the SDK alike.
Beside it, each client's own wss - ws difference per turn.

Printed last: the probe's CPU per turn as a fraction of the SDK's, worst of the four rows (target <= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
KEY = "benchmark-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, deadline: float = 30.0) -> None:
    ends = time.monotonic() + deadline
    while time.monotonic() < ends:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"emulator did not listen on {port}")


def _run(command: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one child process (reaped with wait4 for its own rusage)."""
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def _probe_command(kind: str, turns: int, url: str) -> list[str]:
    return [
        sys.executable, "-m", "monitor", "probe", "--model", MODEL, "--probe", kind, "-n", str(turns),
        "--url", url, "--no-pace",
    ]  # fmt: skip


def _sdk_command(kind: str, turns: int, base_url: str) -> list[str]:
    return [sys.executable, __file__, "--sdk", kind, "--turns", str(turns), "--base-url", base_url]


def per_turn(command: Any, env: dict[str, str], turns: int) -> float:
    """(CPU of 1 + turns turns - CPU of 1 turn) / turns."""
    return (_run(command(turns + 1), env) - _run(command(1), env)) / turns


# --- the SDK client (child process) ------------------------------------------------------------------------


def _sdk_config() -> Any:
    from google.genai import types  # noqa: PLC0415

    from monitor.live.messages import default_setup_payload  # noqa: PLC0415

    payload = default_setup_payload(MODEL)
    generation = payload.pop("generationConfig")
    # The SDK's LiveConnectConfig carries generationConfig's fields at its top level; camelCase aliases work.
    return types.LiveConnectConfig.model_validate({**generation, **payload})


async def _sdk_turns(kind: str, turns: int, base_url: str) -> None:
    from google import genai  # noqa: PLC0415
    from google.genai import types  # noqa: PLC0415

    from monitor.probe.audio import prompt_chunks  # noqa: PLC0415
    from monitor.probe.plans import TEXT_PROMPT  # noqa: PLC0415

    client = genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )
    if base_url.startswith("http://"):
        # The SDK always dials wss (_api_client._websocket_base_url); for the ws row, its URL says ws.
        api = client._api_client
        wss_url = api._websocket_base_url
        api._websocket_base_url = lambda *a: wss_url(*a).replace("wss://", "ws://", 1)  # type: ignore[method-assign]
        api._websocket_ssl_ctx = {}  # and no TLS context, which websockets refuses for ws://
    config = _sdk_config()
    chunks = prompt_chunks()
    for _ in range(turns):
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            if kind == "text":
                await session.send_client_content(
                    turns=types.Content(role="user", parts=[types.Part(text=TEXT_PROMPT)]), turn_complete=True
                )
            else:
                await session.send_realtime_input(activity_start=types.ActivityStart())
                for chunk in chunks:
                    await session.send_realtime_input(
                        audio=types.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
                    )
                await session.send_realtime_input(activity_end=types.ActivityEnd())
            audio = 0
            async with asyncio.timeout(30):
                async for message in session.receive():
                    audio += len(message.data or b"")
                    if message.server_content and message.server_content.turn_complete:
                        break
            if not audio:
                raise SystemExit("sdk: a turn without audio")


# --- the TLS floor (child process) --------------------------------------------------------------------------


async def _connections(count: int, port: int, tls: bool) -> None:
    import ssl  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    context = ssl.create_default_context() if tls else None  # once, as aiohttp and the SDK create theirs

    class Quiet(asyncio.Protocol):
        def __init__(self) -> None:
            self.lost = loop.create_future()

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost.set_result(None)

    for _ in range(count):
        transport, protocol = await loop.create_connection(
            Quiet, "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1" if tls else None
        )
        await asyncio.sleep(0.002)  # the server's NewSessionTickets arrive and are read, as in a session
        transport.close()
        async with asyncio.timeout(10):
            await protocol.lost


def _floor_command(count: int, port: int, tls: bool) -> list[str]:
    return [sys.executable, __file__, "--tls-floor", str(port), "--turns", str(count)] + (
        ["--tls"] if tls else []
    )


# --- the benchmark ------------------------------------------------------------------------------------------


def _pairs(ours: list[float], theirs: list[float]) -> str:
    return ", ".join(f"{o * 1e3:.1f}/{t * 1e3:.1f}" for o, t in zip(ours, theirs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sdk", choices=["text", "audio"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--tls-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tls", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tls_floor:
        asyncio.run(_connections(args.turns, args.tls_floor, args.tls))
        return
    if args.sdk:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        asyncio.run(_sdk_turns(args.sdk, args.turns, args.base_url))
        return
    print(
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus python {platform.python_version()} "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}"
    )
    ratios = []
    rows: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        servers = []
        try:
            for scheme in ("ws", "wss"):
                port = _free_port()
                command = [
                    sys.executable, "-m", "monitor", "emulator", "--scenario", "healthy",
                    "--latency-scale", "0",
                    "--seed", "1", "--port", str(port),
                ]  # fmt: skip
                if scheme == "wss":
                    command += ["--tls-self-signed", scratch]
                servers.append((scheme, port, subprocess.Popen(command, stdout=subprocess.DEVNULL)))
            for scheme, port, _ in servers:
                _wait_for_port(port)
                env = {**os.environ, "GEMINI_API_KEY": KEY}
                if scheme == "wss":
                    env["SSL_CERT_FILE"] = str(Path(scratch) / "ca.pem")
                http = "https" if scheme == "wss" else "http"
                url = f"{scheme}://127.0.0.1:{port}{PATH}"
                base_url = f"{http}://127.0.0.1:{port}"
                for kind in ("text", "audio"):
                    ours, theirs = [], []
                    for _ in range(args.repeats):
                        ours.append(
                            per_turn(lambda n, k=kind, u=url: _probe_command(k, n, u), env, args.turns)
                        )
                        theirs.append(
                            per_turn(lambda n, k=kind, b=base_url: _sdk_command(k, n, b), env, args.turns)
                        )
                    probe, sdk = statistics.median(ours), statistics.median(theirs)
                    ratios.append(probe / sdk)
                    rows[scheme, kind] = (probe, sdk)
                    print(
                        f"{scheme:3} {kind:5}: live-monitor probe {probe * 1e3:5.1f} ms CPU per turn, "
                        f"google-genai {sdk * 1e3:5.1f} ms: ratio {probe / sdk:.2f} "
                        f"(runs {_pairs(ours, theirs)})"
                    )
            env = {**os.environ, "SSL_CERT_FILE": str(Path(scratch) / "ca.pem")}
            (_, ws_port, _), (_, wss_port, _) = servers
            floors = [
                per_turn(lambda n: _floor_command(n, wss_port, True), env, args.turns)
                - per_turn(lambda n: _floor_command(n, ws_port, False), env, args.turns)
                for _ in range(args.repeats)
            ]
            print(
                f"TLS floor (connect + full handshake + close, wss - ws, any asyncio client): "
                f"{statistics.median(floors) * 1e3:.1f} ms per session "
                f"(runs {', '.join(f'{f * 1e3:.1f}' for f in floors)})"
            )
            for kind in ("text", "audio"):
                (pw, sw), (ps, ss) = rows["ws", kind], rows["wss", kind]
                print(
                    f"wss - ws, {kind:5}: live-monitor probe {(ps - pw) * 1e3:.1f} ms, "
                    f"google-genai {(ss - sw) * 1e3:.1f} ms per turn"
                )
        finally:
            for _, _, server in servers:
                server.terminate()
                server.wait()
    print(
        f"probe CPU per turn / google-genai's: worst {max(ratios):.2f}, best {min(ratios):.2f} "
        "(target <= 0.5)"
    )


if __name__ == "__main__":
    main()
