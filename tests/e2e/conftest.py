"""Real Prometheus and Alertmanager on loopback, plus a webhook receiver: the end-to-end harness.

Fixtures (reused by the dashboards tests):
- `webhook` -> `Webhook`: an aiohttp server on an ephemeral port collecting Alertmanager notifications (`url`,
  `notifications`, `await wait_for(predicate, within)`).
- `alertmanager` -> `Server`: real `prometheus-alertmanager` with the SHIPPED
  config/alertmanager/alertmanager.yml, copied with two changes: every webhook URL points at `webhook`, and
  group_wait / group_interval / repeat_interval are shortened (1s / 1s / 1h) so a test does not wait the
  production 30 s before a notification. Routes, grouping, matchers and inhibit rules are untouched.
  Clustering is off (`--cluster.listen-address=`).
- `start_prometheus(targets, *, alertmanager=None, vantage="local", interval="1s") -> Server` (an async
  factory fixture): real `prometheus` with the SHIPPED config/prometheus/prometheus.yml (the file the compose
  stack mounts) with one change: `scrape_interval` / `evaluation_interval`, and the rule groups' `interval:`,
  shortened to `interval` so a test sees scrapes and rule evaluations within seconds. Where things run is not
  in that file: the test writes its own targets/monitors.yml (`targets`, labelled `vantage`) and
  targets/alertmanagers.yml (`alertmanager`, or none) beside the copy, as compose and native installs do.
  Rule expressions, windows, thresholds and `for:` durations are the shipped ones, byte for byte.
- `demo_daemon(config, *args, env=None) -> DemoDaemon` (a context manager, not a fixture):
  `live-monitor run --demo -c config` as a subprocess (plus `args`, with `env` added to a clean environment),
  until its banner names the metrics address; SIGTERM on exit.
  Every server listens on 127.0.0.1 on a port picked just before it starts, keeps its storage in the test's
  tmp_path, is ready when `/-/ready` answers 200, and is terminated at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "config/prometheus/prometheus.yml"
RULES_DIR = REPO / "config/prometheus/rules"
ALERTMANAGER_YML = REPO / "config/alertmanager/alertmanager.yml"
ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "alertmanager"
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server process: its base URL and the log it writes (shown when it fails to start)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workdir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _spawn(name: str, argv: list[str], port: int, log: Path, workdir: Path) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir)
    return Server(name, f"http://127.0.0.1:{port}", process, log, workdir)


async def _start(name: str, argv: Callable[[int], list[str]], workdir: Path) -> Server:
    """Starts argv(port) and waits for /-/ready; retries with a new port if one was taken meanwhile."""
    for attempt in range(3):
        port = free_port()
        server = _spawn(name, argv(port), port, workdir / f"{name}-{attempt}.log", workdir)
        if await _wait_ready(server):
            return server
        server.stop()
        if "address already in use" not in server.log_tail(200):
            break
    raise RuntimeError(f"{name} did not become ready:\n{server.log_tail()}")


async def _wait_ready(server: Server) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline and server.process.poll() is None:
            try:
                async with http.get(f"{server.url}/-/ready") as response:
                    if response.status == 200:
                        return True
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    return False


# --- webhook ----------------------------------------------------------------------------------------------


@dataclass
class Webhook:
    """Collects Alertmanager webhook payloads, each tagged with the receiver path it arrived on."""

    url: str = ""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        payload["_path"] = request.path
        payload["_received"] = time.time()
        self.notifications.append(payload)
        self._arrived.set()
        return web.Response(text="ok")

    def alerts(self, *, status: str = "firing") -> list[dict[str, Any]]:
        """Every alert of every notification, with the receiver path under `_path`."""
        return [
            {**alert, "_path": n["_path"]}
            for n in self.notifications
            for alert in n["alerts"]
            if alert["status"] == status
        ]

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], within: float
    ) -> list[dict[str, Any]]:
        """Waits until predicate(notifications) holds; returns the notifications (raises TimeoutError)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate(self.notifications):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"webhook: condition not met in {within} s; got {self.notifications}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))
        return self.notifications


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/{path:.*}", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}"
    yield hook
    await runner.cleanup()


# --- Alertmanager -----------------------------------------------------------------------------------------


def alertmanager_test_config(webhook_url: str) -> dict[str, Any]:
    """The shipped alertmanager.yml with webhook URLs on `webhook_url` (same path) and short group timers."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = hook["url"].split("/", 3)[3]
            hook["url"] = f"{webhook_url}/{path}"
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")):
            if key in route:
                route[key] = value
    return config


@pytest.fixture
async def alertmanager(webhook: Webhook, tmp_path: Path) -> AsyncIterator[Server]:
    workdir = tmp_path / "alertmanager"
    workdir.mkdir()
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_test_config(webhook.url), sort_keys=False))
    server = await _start(
        "alertmanager",
        lambda port: [
            ALERTMANAGER_BIN,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        workdir,
    )
    yield server
    server.stop()


# --- The daemon -------------------------------------------------------------------------------------------


@dataclass
class DemoDaemon:
    process: subprocess.Popen[bytes]
    metrics_address: str  # host:port
    started: float  # wall clock, seconds


def printed(process: subprocess.Popen[bytes], out: Path, pattern: str, *, log: Path | None = None) -> str:
    """The first group of `pattern` in what a starting server writes to `out` (its banner: address, URL)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(pattern, out.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.1)
    tail = (log or out).read_text(errors="replace")[-3000:]
    raise AssertionError(f"{process.args!r} did not start:\n{tail}")


@contextlib.contextmanager
def demo_daemon(config: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[DemoDaemon]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_") and k != "GEMINI_API_KEY"
    }
    out, err = config.with_suffix(".out"), config.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--demo", "-c", str(config), *args],
            cwd=REPO,
            env={**clean, **(env or {})},
            stdout=stdout,
            stderr=stderr,
        )
    started = time.time()
    try:
        address = printed(process, out, r"metrics\s+http://([\d.]+:\d+)/metrics", log=err)
        yield DemoDaemon(process, address, started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- Prometheus -------------------------------------------------------------------------------------------


def prometheus_test_config(interval: str) -> dict[str, Any]:
    """The shipped prometheus.yml with only its two intervals shortened (module docstring)."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    return config


def write_targets(
    targets_dir: Path, *, monitors: Sequence[str] | Mapping[str, str], vantage: str, alertmanager: str | None
) -> None:
    """The file-based discovery targets the shipped prometheus.yml reads (targets/*.yml beside it).

    `monitors` is a list of addresses (all labelled `vantage`) or a mapping of address -> its own vantage.
    """
    targets_dir.mkdir(parents=True)
    vantages = dict(monitors) if isinstance(monitors, Mapping) else dict.fromkeys(monitors, vantage)
    groups = [{"targets": [target], "labels": {"vantage": name}} for target, name in vantages.items()]
    (targets_dir / "monitors.yml").write_text(yaml.safe_dump(groups, sort_keys=False))
    managers = [] if alertmanager is None else [{"targets": [alertmanager]}]
    (targets_dir / "alertmanagers.yml").write_text(yaml.safe_dump(managers, sort_keys=False))


def copy_rules(rules_dir: Path, interval: str) -> None:
    """Copies the shipped rule files, changing only each group's evaluation `interval`."""
    rules_dir.mkdir(parents=True)
    for source in sorted(RULES_DIR.glob("*.yml")):
        text = source.read_text()
        groups = yaml.safe_load(text)["groups"]
        for group in groups:
            group["interval"] = interval
        (rules_dir / source.name).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))


StartPrometheus = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_prometheus(tmp_path: Path) -> AsyncIterator[StartPrometheus]:
    started: list[Server] = []

    async def start(
        targets: Sequence[str] | Mapping[str, str],
        *,
        alertmanager: Server | None = None,
        vantage: str = "local",
        interval: str = "1s",
    ) -> Server:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        copy_rules(workdir / "rules", interval)
        write_targets(
            workdir / "targets",
            monitors=targets,
            vantage=vantage,
            alertmanager=alertmanager.url.removeprefix("http://") if alertmanager else None,
        )
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(prometheus_test_config(interval), sort_keys=False))
        server = await _start(
            "prometheus",
            lambda port: [
                "prometheus",
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            workdir,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def query(prometheus: Server, expr: str) -> list[dict[str, Any]]:
    """An instant query against a running Prometheus; the `result` list (raises on a query error)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{prometheus.url}/api/v1/query", params={"query": expr}) as response,
    ):
        body = await response.json()
    if body.get("status") != "success":
        raise AssertionError(f"query {expr!r} failed: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
