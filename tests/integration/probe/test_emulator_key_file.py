"""`live-monitor emulator --service-account-key FILE`: a rehearsal's Vertex AI credentials, end to end through
a real emulator process, google-auth's refresh and a probe."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import aiohttp
import pytest

from monitor.config.settings import load_settings
from monitor.probe.outcome import Outcome
from monitor.probe.runner import run_probe
from tests.integration.emulator.test_cli import _start, _stop
from tests.integration.probe.credentials_kit import VERTEX_MODEL, VERTEX_PATH, write_config


async def test_the_emulator_writes_a_key_file_that_google_auth_refreshes_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key file is private to its owner, names the emulator as token_uri, and a Vertex AI probe configured
    with it authenticates against that emulator process."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    key = tmp_path / "sa.json"
    process, lines = await _start(
        "--scenario", "healthy", "--latency-scale", "0", "--service-account-key", str(key)
    )
    try:
        base = re.search(r"listening on (ws://\S+)", lines[0])
        assert base is not None, lines
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        info = json.loads(key.read_text())
        assert info["type"] == "service_account"
        assert info["token_uri"] == base.group(1).replace("ws://", "http://") + "/token"
        endpoint = {
            "name": "vertex",
            "url": base.group(1) + VERTEX_PATH,
            "auth": "bearer",
            "credentials_file": str(key),
            "location": "us-central1",
        }
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        async with aiohttp.ClientSession() as http:
            result = await run_probe(target, kind, http=http)
    finally:
        code = await _stop(process)
    assert result.outcome is Outcome.OK, result.to_record()
    assert code == 0
