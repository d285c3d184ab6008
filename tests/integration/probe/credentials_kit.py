"""Shared pieces of the credential tests: an emulated clock, key files from the emulator, configs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.emulator import RunningEmulator

VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
CONSTRAINED_PATH = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
VERTEX_MODEL = "gemini-live-2.5-flash-native-audio"
GEMINI_MODEL = "gemini-2.5-flash-native-audio-latest"
# Not the shape of a real key; nothing may match on a shape.
API_KEY_CANARY = "CANARY-credentials-not-a-real-key-0123"


class EmulatedClock:
    """Real time plus an offset the test moves forward: an hour passes in a call, sockets stay real."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._origin = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
        self._start = time.perf_counter()

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def monotonic(self) -> float:
        return time.perf_counter() + self.offset

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=time.perf_counter() - self._start + self.offset)


def http_base(emulator: RunningEmulator) -> str:
    return f"{'https' if emulator.tls else 'http'}://{emulator.host}:{emulator.port}"


def token_uri(emulator: RunningEmulator) -> str:
    return http_base(emulator) + "/token"


def service_account_file(
    emulator: RunningEmulator, directory: Path, *, project: str = "probe-project"
) -> Path:
    """A service-account key file the emulator generated, its token_uri pointing at the emulator."""
    assert emulator.state is not None
    info = emulator.state.oauth.new_service_account(token_uri=token_uri(emulator), project=project)
    path = directory / "vertex-sa.json"
    path.write_text(json.dumps(info))
    return path


def secrets_of(path: Path) -> list[str]:
    """The secret values of a key file: what must never be seen outside the process."""
    info = json.loads(path.read_text())
    found = [info.get("private_key", ""), info.get("refresh_token", ""), info.get("client_secret", "")]
    body = info.get("private_key", "").splitlines()[1:-1]  # the base64 lines of the PEM, one by one
    return [s for s in [*found, *body] if s]


def write_config(directory: Path, endpoints: list[dict[str, Any]], models: list[dict[str, Any]]) -> Path:
    config = {
        "endpoints": endpoints,
        "models": models,
        "probes": {
            "kinds": ["text"],
            "interval": "60s",
            "pace_audio": False,
            "timeouts": {"connect": "3s", "setup": "3s", "first_response": "3s", "turn": "5s"},
        },
        "store": {"path": str(directory / "store.sqlite3")},
    }
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
