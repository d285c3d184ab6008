"""A report from a real `live-monitor run --demo` store: the daemon probes the built-in emulator (seed-replay:
the alias and its 12-2025 backend start failing with 1011 at the onset, 09-2025 stays clean)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
ONSET_SECONDS = 30
RUN_SECONDS = 75

CONFIG = """\
vantage: demo-test
listen: 127.0.0.1:0
endpoints:
  - name: gemini-api
    auth: header
models:
  - id: gemini-2.5-flash-native-audio-latest
    family: gemini-2.5-flash-native-audio
    alias: true
  - id: gemini-2.5-flash-native-audio-preview-12-2025
    family: gemini-2.5-flash-native-audio
  - id: gemini-2.5-flash-native-audio-preview-09-2025
    family: gemini-2.5-flash-native-audio
probes:
  kinds: [text]
  interval: 2s
  timeouts: {{connect: 0.5s, setup: 0.5s, first_response: 1s, turn: 1s}}
  recover: true
budgets:
  sessions_per_minute: 600
  sessions_per_day: 400000
  max_concurrent_sessions: 8
store:
  path: {store}
demo:
  onset: {onset}s
  latency_scale: 0.1
  seed: 7
"""


@pytest.mark.slow
def test_report_from_a_demo_run_shows_onset_clean_pin_and_wire_pattern(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(store=store, onset=ONSET_SECONDS), encoding="utf-8")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--demo", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "daemon.log").open("w"),
    )
    try:
        time.sleep(RUN_SECONDS)
        assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(timeout=30)
    out, plot = tmp_path / "report.md", tmp_path / "plot.png"
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--db", str(store), "-c", str(config), "-o", str(out),
         "--plot", str(plot), "--model", ALIAS],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    alias_only = out.read_text(encoding="utf-8")
    assert "- change between " in alias_only  # the alias shows the onset
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--db", str(store), "-c", str(config), "-o", str(out),
         "--plot", str(plot)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    summary = text.split("## Timeline")[0]
    (rose,) = [line for line in summary.splitlines() if "failure rate rose on" in line]
    assert f"{ALIAS} (text)" in rose  # the alias changed ...
    assert PINNED not in rose
    assert f"unchanged: {PINNED} (text): 0/" in summary  # the pinned model is reported clean
    assert f"{PINNED} (text): 0.0% (" in text  # one regime, no failures, over the whole run
    wire = text.split("## Wire-level pattern")[1].split("## Environment")[0]
    failure_case = wire.split("Success case")[0]
    assert "sessionResumptionUpdate {} → close 1011" in failure_case
    assert "Auth: API key in the x-goog-api-key header" in text
    assert plot.read_bytes()[:4] == b"\x89PNG"
