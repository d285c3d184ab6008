"""When each alert of the compose demo fires, measured on the same files without Docker.

The compose stack's shape, as native processes on loopback: one emulator (seed-replay, `--onset` as in
docker-compose.yml), two demo monitors probing it from two vantages (`eu-west`, `us-east`), Prometheus with
the shipped prometheus.yml and rules unchanged (15 s scrape, 30 s evaluation) and Alertmanager with the
shipped alertmanager.yml. Prometheus's and Alertmanager's alert APIs are polled every 2 s. Printed: the first
time each alert was pending, firing in Prometheus and present in Alertmanager, in seconds after the onset (and
the model and vantage of the first firing); the 5-minute failure counts Prometheus held when the first burst
fired; each vantage's failed turns after the onset, from its store; and last the order of the first firing
alerts (the figure; docs/deployment.md, "What a new user sees, and when").

    .venv/bin/python benchmarks/compose_timeline.py                 # onset 180 s, watch 6 min after it
    .venv/bin/python benchmarks/compose_timeline.py --onset 60 --watch 300
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
VANTAGES = ("eu-west", "us-east")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(url: str, deadline: float) -> None:
    while True:
        try:
            get_json(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def query(port: int, expr: str) -> list[str]:
    """An instant query's series as `model vantage = value` lines."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return [
        f"{r['metric'].get('model', '')} {r['metric'].get('vantage', '')} = {float(r['value'][1]):.3f}"
        for r in get_json(url)["data"]["result"]
    ]


def first_failures(work: Path, onset_at: float) -> dict[tuple[str, str], list[float]]:
    """Each vantage's failed probe turns after the onset, from its own store (read-only)."""
    found: dict[tuple[str, str], list[float]] = {}
    for vantage in VANTAGES:
        with contextlib.closing(sqlite3.connect(f"file:{work / vantage}.sqlite3?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT model, started_at_ms FROM probe_records WHERE outcome NOT IN ('ok', 'prober_error')"
                " AND started_at_ms >= ? ORDER BY started_at_ms",
                (int(onset_at * 1000),),
            ).fetchall()
        for model, started_ms in rows:
            found.setdefault((vantage, model), []).append(started_ms / 1000 - onset_at)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onset", type=float, default=180.0, help="emulator --onset (compose: 180)")
    parser.add_argument("--watch", type=float, default=360.0, help="seconds to watch after the onset")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="compose-timeline-"))
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_") and k != "GEMINI_API_KEY"
    }
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (work / f"{name}.out").open("wb") as out, (work / f"{name}.err").open("wb") as err:
            process = subprocess.Popen(command, cwd=REPO, env=env or clean, stdout=out, stderr=err)
        processes.append(process)
        return process

    try:
        emulator_port = free_port()
        spawn(
            "emulator",
            [
                sys.executable,
                "-m",
                "monitor",
                "emulator",
                "--port",
                str(emulator_port),
                "--scenario",
                "seed-replay",
                "--onset",
                str(args.onset),
            ],
        )
        deadline = time.monotonic() + 30
        while "Gemini API v1beta" not in (work / "emulator.out").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        onset_at = time.time() + args.onset  # the emulator's clock started just before its banner
        url = f"ws://127.0.0.1:{emulator_port}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
        monitors = {}
        for vantage in VANTAGES:
            port = free_port()
            env = {
                **clean,
                "LIVE_MONITOR_DEMO__EMULATOR_URL": url,
                "LIVE_MONITOR_VANTAGE": vantage,
                "LIVE_MONITOR_STORE__PATH": str(work / f"{vantage}.sqlite3"),
            }
            spawn(
                vantage,
                [sys.executable, "-m", "monitor", "run", "--demo", "--listen", f"127.0.0.1:{port}"],
                env,
            )
            monitors[f"127.0.0.1:{port}"] = vantage

        am_port, prom_port = free_port(), free_port()
        spawn(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={REPO / 'config/alertmanager/alertmanager.yml'}",
                f"--storage.path={work / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
        )
        prom_dir = work / "prometheus"
        shutil.copytree(REPO / "config/prometheus/rules", prom_dir / "rules")
        shutil.copy2(REPO / "config/prometheus/prometheus.yml", prom_dir / "prometheus.yml")
        (prom_dir / "targets").mkdir()
        groups = [{"targets": [t], "labels": {"vantage": v}} for t, v in monitors.items()]
        (prom_dir / "targets/monitors.yml").write_text(yaml.safe_dump(groups))
        (prom_dir / "targets/alertmanagers.yml").write_text(
            yaml.safe_dump([{"targets": [f"127.0.0.1:{am_port}"]}])
        )
        spawn(
            "prometheus",
            [
                "prometheus",
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
        )
        wait_for(f"http://127.0.0.1:{prom_port}/api/v1/alerts", time.monotonic() + 30)
        wait_for(f"http://127.0.0.1:{am_port}/api/v2/alerts", time.monotonic() + 30)

        first: dict[tuple[str, str], float] = {}
        burst_counts: list[str] = []
        labels: dict[tuple[str, str], str] = {}
        end = onset_at + args.watch
        while time.time() < end:
            now = time.time() - onset_at
            for alert in get_json(f"http://127.0.0.1:{prom_port}/api/v1/alerts")["data"]["alerts"]:
                key = (alert["labels"]["alertname"], alert["state"])
                if key not in first:
                    first[key] = now
                    if key == ("GeminiLiveFailureBurst", "firing"):
                        burst_counts = query(
                            prom_port,
                            "endpoint_model_vantage:gemini_live_probe_provider_failures:increase5m > 0",
                        )
                    labels[key] = " ".join(
                        f"{k}={alert['labels'][k]}" for k in ("model", "vantage") if k in alert["labels"]
                    )
            for alert in get_json(f"http://127.0.0.1:{am_port}/api/v2/alerts"):
                first.setdefault((alert["labels"]["alertname"], "in Alertmanager"), now)
            time.sleep(2)
        failures = first_failures(work, onset_at)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=70)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    print(f"onset {args.onset:g} s after the emulator started; seconds after the onset (2 s polling):")
    for (name, state), seconds in sorted(first.items(), key=lambda item: item[1]):
        print(f"  {seconds:7.1f}  {name:<28} {state:<16} {labels.get((name, state), '')}")
    print("failures in 5 min (the page's first rung, as increase() counts them) when the first burst fired:")
    for line in burst_counts:
        print(f"  {line}")
    print("provider failures after the onset, per vantage and model (seconds after the onset, turn started):")
    for (vantage, model), times in sorted(failures.items()):
        print(f"  {vantage:<8} {model:<48} {' '.join(f'{t:.0f}' for t in times[:8])}")
    order = [
        f"{name} {seconds:+.0f} s"
        for (name, state), seconds in sorted(first.items(), key=lambda i: i[1])
        if state == "firing"
    ]
    print("firing order: " + ", ".join(order))


if __name__ == "__main__":
    main()
