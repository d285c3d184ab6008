"""`live-monitor run` with a Vertex AI endpoint (service-account key) and an ephemeral-token endpoint, both
against a real `live-monitor emulator` process: records, /metrics, the status page, and no secret in any."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.emulator.test_cli import _start, _stop
from tests.integration.test_daemon import free_port, read_store, records_so_far

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
API_KEY = "CANARY-daemon-credentials-not-a-key"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
V1ALPHA = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


async def test_the_daemon_probes_vertex_and_ephemeral_token_endpoints(tmp_path: Path) -> None:
    """Both endpoints record ok turns; the token endpoint exports its mint as phase token and both export the
    pre-created credentials_error series; the API key, the private key and the tokens appear nowhere."""
    key = tmp_path / "sa.json"
    emulator, lines = await _start(
        "--scenario", "healthy", "--latency-scale", "0", "--service-account-key", str(key)
    )
    try:
        found = re.search(r"listening on (ws://\S+)", lines[0])
        assert found is not None, lines
        base = found.group(1)
        store = tmp_path / "store.sqlite3"
        config = {
            "endpoints": [
                {"name": "vertex", "url": base + VERTEX_PATH, "auth": "bearer", "credentials_file": str(key),
                 "location": "us-central1"},
                {"name": "browser", "url": base + V1ALPHA, "auth": "token", "token": {"timeout": "1s"}},
            ],
            "models": [
                {"id": "gemini-live-2.5-flash-native-audio", "endpoint": "vertex"},
                {"id": "gemini-2.5-flash-native-audio-latest", "endpoint": "browser"},
            ],
            "probes": {"kinds": ["text"], "interval": "5s", "pace_audio": False, "timeouts": {
                "connect": "1s", "setup": "1s", "first_response": "1.5s", "turn": "2s"}},
            "budgets": {"sessions_per_minute": 1000, "sessions_per_day": 1000000},
            "store": {"path": str(store)},
        }  # fmt: skip
        path = tmp_path / "monitor.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVE_MONITOR_", "GOOGLE_"))}
        env["GEMINI_API_KEY"] = API_KEY
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "-c", str(path), "--listen", f"127.0.0.1:{port}",
            cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            for _ in range(200):  # up to a minute
                if daemon.returncode is not None:
                    pytest.fail(f"the daemon exited with {daemon.returncode}")
                if {r["endpoint"] for r in records_so_far(store) if r["outcome"] == "ok"} == {
                    "vertex",
                    "browser",
                }:
                    break
                await asyncio.sleep(0.3)
            else:
                pytest.fail("no ok turn on both endpoints within a minute")
            metrics = await asyncio.to_thread(get, port, "/metrics")
            page = await asyncio.to_thread(get, port, "/")
        finally:
            daemon.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                out, err = await daemon.communicate()
        assert daemon.returncode == 0, err.decode()[-2000:]
    finally:
        await _stop(emulator)
    records = read_store(store)
    # A loaded machine may time a turn out; no probe may lack its credential.
    assert "credentials_error" not in {r["outcome"] for r in records}, records
    token_timings = [r["timings"]["token"] for r in records if r["endpoint"] == "browser"]
    assert all(t is not None for t in token_timings)
    assert all(r["timings"]["token"] is None for r in records if r["endpoint"] == "vertex")
    samples = [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    ]
    assert any(
        name == "gemini_live_probe_phase_seconds_count"
        and labels["endpoint"] == "browser"
        and labels["phase"] == "token"
        and value >= 1
        for name, labels, value in samples
    )
    for phase, endpoint in (("token", "browser"), ("credentials", "vertex")):
        wanted = {"endpoint": endpoint, "outcome": "credentials_error", "cause": "unavailable", "code": "503"}
        assert any(
            name == "gemini_live_probe_turns_total" and labels.items() >= {**wanted, "phase": phase}.items()
            for name, labels, _ in samples
        ), phase
    private = json.loads(key.read_text())["private_key"].splitlines()[1]
    seen = {"stdout": out.decode(), "stderr": err.decode(), "metrics": metrics, "page": page,
            "records": json.dumps(records)}  # fmt: skip
    for where, text in seen.items():
        for secret in (API_KEY, private, "auth_tokens/", "ya29.emu-"):
            assert secret not in text, f"{secret[:12]}... reached the {where}"
