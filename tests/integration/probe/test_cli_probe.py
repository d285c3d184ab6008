"""`live-monitor probe` as a new user runs it: a real subprocess against the real emulator.

The API key is a canary: it must never appear in stdout, stderr (logs included) or records, also when the
upgrade is rejected or the connection fails with the key in the URL's query.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.emulator import load_scenario, start_emulator

CANARY = "CANARY-cli-not-a-real-key-0123"
ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


async def probe(*args: str, key: str | None = CANARY) -> Run:
    env = {k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}
    if key is not None:
        env["GEMINI_API_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "probe", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    run = Run(process.returncode or 0, stdout.decode(), stderr.decode())
    assert CANARY not in run.stdout
    assert CANARY not in run.stderr
    return run


def rows(table: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("|")
    ]


async def test_healthy_table_and_exit_0() -> None:
    async with start_emulator(load_scenario("healthy"), latency_scale=0.0) as emulator:
        run = await probe(
            "--model", "gemini-2.5-flash-native-audio-preview-09-2025", "-n", "3", "--url", emulator.url
        )
    assert run.code == 0, run.stderr
    table = rows(run.stdout)
    assert table[0] == ["Model", "N", "OK", "1011"]
    assert table[2] == ["gemini-2.5-flash-native-audio-preview-09-2025", "3", "3/3", "0/3"]


async def test_seed_replay_after_onset_reproduces_incident_000s_table() -> None:
    """The issue's new-user run: -latest after onset shows mostly 1011s, as in incident 000."""
    scenario = load_scenario("seed-replay")
    async with start_emulator(scenario, latency_scale=0.0, onset_seconds=0.0, seed=7) as emulator:
        run = await probe(
            "--model", "gemini-2.5-flash-native-audio-latest", "-n", "10", "--url", emulator.url
        )  # fmt: skip
    assert run.code == 1
    table = rows(run.stdout)
    assert table[0][:4] == ["Model", "N", "OK", "1011"]
    model, n, ok, failed_1011 = table[2][:4]
    assert (model, n) == ("gemini-2.5-flash-native-audio-latest", "10")
    assert int(failed_1011.split("/")[0]) >= 5
    assert int(ok.split("/")[0]) + int(failed_1011.split("/")[0]) == 10
    assert "Recovery after a failed turn: fresh" in run.stdout


async def test_json_records_one_per_line() -> None:
    async with start_emulator(load_scenario("healthy"), latency_scale=0.0) as emulator:
        run = await probe(
            "--model", "gemini-3.8-live", "--probe", "audio", "--no-pace", "-n", "2", "--json",
            "--url", emulator.url,
        )  # fmt: skip
    assert run.code == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(records) == 2
    assert {r["outcome"] for r in records} == {"ok"}
    assert all(r["probe"] == "audio" and r["timings"]["first_audio"] > 0 for r in records)


async def test_handshake_rejection_with_the_key_in_the_query() -> None:
    async with start_emulator(load_scenario("upgrade-429"), latency_scale=0.0) as emulator:
        run = await probe(
            "--model", "gemini-3.8-live", "--auth", "query", "-n", "1", "--url", emulator.url
        )  # fmt: skip
    assert run.code == 1
    assert "handshake_rejected 429 quota" in rows(run.stdout)[0]


async def test_connect_error_with_the_key_in_the_query() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    run = await probe("--model", "m", "--auth", "query", "--json", "--url", f"ws://127.0.0.1:{port}/ws/x")
    assert run.code == 1
    record = json.loads(run.stdout.splitlines()[0])
    assert (record["outcome"], record["phase"]) == ("connect_error", "connect")


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        pytest.param(["--model", "m"], None, "GEMINI_API_KEY is not set", id="no-key-for-the-real-api"),
        pytest.param(
            ["--model", "m", "-n", "0", "--url", "ws://h/p"], CANARY, "-n must be at least 1", id="n-0"
        ),
        pytest.param(["--model", "m", "--url", "http://h/p"], CANARY, "ws:// or wss://", id="bad-scheme"),
        pytest.param(
            ["--model", "m", "--url", "wss://h/p?key=x"], CANARY, "must not carry a query", id="key-in-url"
        ),
        pytest.param(
            ["--model", "gemini-live", "--url", "wss://aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1."
             "LlmBidiService/BidiGenerateContent"],
            CANARY, "--model: Vertex AI needs the full resource name", id="vertex-bare-model",
        ),
        pytest.param(
            ["--model", "m", "--setup", "/nonexistent.json"], CANARY, "cannot read", id="setup-missing"
        ),
    ],
)  # fmt: skip
async def test_bad_usage_exits_2_with_a_clear_message(args: list[str], key: str | None, message: str) -> None:
    run = await probe(*args, key=key)
    assert run.code == 2
    assert message in run.stderr
    assert run.stdout == ""


async def test_bad_setup_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "setup.json"
    bad.write_text("[1, 2]")
    run = await probe("--model", "m", "--url", "ws://127.0.0.1:9/x", "--setup", str(bad))
    assert run.code == 2
    assert f"--setup {bad}: must hold a JSON object" in run.stderr


async def test_user_setup_payload_is_used(tmp_path: Path) -> None:
    """A production payload from a file drives the session (the emulator would reject TEXT with 1007)."""
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"setup": {"generationConfig": {"responseModalities": ["TEXT"]}}}))
    async with start_emulator(load_scenario("healthy"), latency_scale=0.0) as emulator:
        run = await probe(
            "--model", "gemini-3.8-live", "--json", "--setup", str(setup), "--url", emulator.url
        )
    record = json.loads(run.stdout.splitlines()[0])
    assert (record["outcome"], record["code"], record["cause"]) == ("server_close", 1007, "invalid_argument")


async def test_no_key_against_the_emulator_is_refused_as_by_the_real_service_and_names_the_fix() -> None:
    """Without a key the emulator closes 1008 auth; stderr names the command that works, and it does."""
    model = "gemini-3.8-live"
    async with start_emulator(load_scenario("healthy"), latency_scale=0.0) as emulator:
        refused = await probe("--model", model, "--json", "--url", emulator.url, key=None)
        working = f"GEMINI_API_KEY=anything live-monitor probe --model {model} --url {emulator.url}"
        assert working in refused.stderr
        record = json.loads(refused.stdout.splitlines()[0])
        assert (record["outcome"], record["code"], record["cause"]) == ("server_close", 1008, "auth")
        accepted = await probe("--model", model, "--url", emulator.url, key="anything")
    assert refused.code == 1
    assert accepted.code == 0, accepted.stderr
    assert "GEMINI_API_KEY" not in accepted.stderr


async def test_no_key_for_the_real_api_names_the_emulator_command() -> None:
    """The real API's missing-key error says the emulator needs a key too, with the working command."""
    run = await probe("--model", "gemini-3.8-live", key=None)
    assert run.code == 2
    assert (
        "GEMINI_API_KEY=anything live-monitor probe --model gemini-3.8-live --url ws://127.0.0.1:8765/"
        in run.stderr
    )
