"""`live-monitor probe`, run as a user runs it (a subprocess, `--url` wss and `SSL_CERT_FILE`), succeeds on
text, audio and tool turns for every model of the default configuration, and every frame it sends or gets
validates against google-genai's types: a change that breaks the probe's wire format for any model fails."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config.demo import DEMO_CONFIG_YAML
from tests.conformance.conftest import LiveStack, StackFactory
from tests.conformance.frames import decoded

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODELS: list[dict[str, Any]] = yaml.safe_load(DEMO_CONFIG_YAML)["models"]
KINDS = ("text", "audio", "tool")


async def probe(stack: LiveStack, model: dict[str, Any], kind: str) -> dict[str, Any]:
    env = {**os.environ, "GEMINI_API_KEY": "conformance-key"}  # SSL_CERT_FILE: the proxy's CA
    args = ["--model", model["id"], "--probe", kind, "--url", stack.url, "--json", "--no-pace"]
    if "text_path" in model:
        args += ["--text-path", model["text_path"]]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "probe", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    lines = [line for line in stdout.decode().splitlines() if line.startswith("{")]
    assert len(lines) == 1, (process.returncode, stdout.decode(), stderr.decode()[-2000:])
    record: dict[str, Any] = json.loads(lines[0])
    return record


def test_the_default_configuration_is_what_is_probed() -> None:
    """The line-up probed here is the shipped one, with gemini-3.8-live beside the incident models."""
    ids = [m["id"] for m in DEFAULT_MODELS]
    assert "gemini-3.8-live" in ids
    assert "gemini-2.5-flash-native-audio-latest" in ids
    assert "gemini-3.1-flash-live-preview" in ids


@pytest.mark.parametrize("model", DEFAULT_MODELS, ids=[m["id"] for m in DEFAULT_MODELS])
async def test_probe_wire_format_for_every_default_model(
    live_stack: StackFactory, model: dict[str, Any]
) -> None:
    """Text, audio and tool probes all end `ok`; the recorded frames are checked when live_stack closes."""
    async with live_stack() as stack:
        records = await asyncio.gather(*(probe(stack, model, kind) for kind in KINDS))
        connections = list(stack.connections)
    for kind, record in zip(KINDS, records, strict=True):
        assert record["outcome"] == "ok", (kind, record, stack.describe())
    assert len(connections) == len(KINDS)
    for connection in connections:
        setup = decoded(connection.sent()[0])["setup"]
        assert setup["model"] == f"models/{model['id']}"
        declaration = setup["tools"][0]["functionDeclarations"][0]
        if model["id"].startswith("gemini-3.8-live"):
            # No thinkingConfig there, proactive audio always on (never sent), calls NON_BLOCKING unless
            # declared: the probe declares BLOCKING so its tool turn has the same shape on every model.
            assert "thinkingConfig" not in setup["generationConfig"]
            assert "proactivity" not in setup
            assert declaration["behavior"] == "BLOCKING"
        else:
            assert "thinkingConfig" in setup["generationConfig"]
            assert "behavior" not in declaration
