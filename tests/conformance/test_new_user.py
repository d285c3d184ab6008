"""The "Real clients" commands of docs/emulator.md as a new user runs them: `live-monitor emulator
--tls-self-signed DIR` as a real process, `SSL_CERT_FILE=DIR/ca.pem`, google-genai's `base_url` on the printed
port, no proxy in between; a text turn on gemini-3.8-live completes over wss."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from google import genai
from google.genai import types

ROOT = Path(__file__).resolve().parents[2]


async def test_the_documented_commands_serve_google_genai_over_wss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start the emulator as documented, trust its CA by SSL_CERT_FILE, complete one turn."""
    ca_dir = tmp_path / "emulator-ca"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "emulator", "--tls-self-signed", str(ca_dir), "--port", "0",
        "--scenario", "healthy", "--latency-scale", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = ""
        async with asyncio.timeout(20):
            while not (found := re.search(r"wss://127\.0\.0\.1:(\d+)/", banner)):
                line = (await process.stdout.readline()).decode()
                assert line, f"the emulator exited: {banner}"
                banner += line
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_dir / "ca.pem"))
        client = genai.Client(
            api_key="anything",
            http_options=types.HttpOptions(
                base_url=f"https://127.0.0.1:{found.group(1)}/", api_version="v1beta"
            ),
        )
        config: types.LiveConnectConfigDict = {"response_modalities": [types.Modality.AUDIO]}
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Say OK")]), turn_complete=True
            )
            audio = b""
            async with asyncio.timeout(10):
                async for message in session.receive():
                    audio += message.data or b""
        assert len(audio) / 2 / 24_000 > 0.5
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await process.wait() == 0
