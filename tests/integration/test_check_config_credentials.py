"""`live-monitor check-config` on credential settings: each problem with its exact message, and what a valid
Vertex AI or ephemeral-token endpoint is said to use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.clock import SYSTEM_CLOCK
from monitor.emulator.oauth import OAuthIssuer

VERTEX_URL = "wss://us-central1-aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
CONSTRAINED_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GEMINI_API_KEY", "CANARY-check-config-not-a-key")


def key_file(directory: Path, **changes: Any) -> Path:
    info = OAuthIssuer(SYSTEM_CLOCK).new_service_account(token_uri="https://oauth2.googleapis.com/token")
    info.update(changes)
    info = {k: v for k, v in info.items() if v is not None}
    path = directory / "sa.json"
    path.write_text(json.dumps(info))
    return path


def check(directory: Path, endpoint: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = {
        "endpoints": [{"name": "vertex", **endpoint}],
        "models": [{"id": "gemini-live-2.5-flash-native-audio"}],
    }
    path = directory / "monitor.yaml"
    path.write_text(json.dumps(config))
    code = main(["check-config", "-c", str(path)])
    return code, capsys.readouterr().out


def problems(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()[1:]]


def test_a_missing_credentials_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A named key file that does not exist is named with the OS's reason."""
    code, out = check(
        tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": "/nonexistent/sa.json"}, capsys
    )
    assert code == 2
    assert problems(out) == [
        "endpoints[0].credentials_file: cannot read '/nonexistent/sa.json': No such file or directory"
    ]


def test_an_unreadable_credentials_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A key file that cannot be read (here a directory) says why."""
    code, out = check(
        tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": str(tmp_path)}, capsys
    )
    assert code == 2
    assert problems(out) == [
        f"endpoints[0].credentials_file: cannot read '{tmp_path}': not a regular file (a directory)"
    ]


def test_a_credentials_file_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An API key pasted where the key file belongs is not a JSON key file; the key is not echoed."""
    path = tmp_path / "key.txt"
    path.write_text("CANARY-pasted-api-key\n")
    code, out = check(tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": str(path)}, capsys)
    assert code == 2
    assert problems(out) == [
        f"endpoints[0].credentials_file: '{path}' is not a JSON key file "
        "(Expecting value at line 1, column 1)"
    ]
    assert "CANARY-pasted-api-key" not in out


def test_the_wrong_type_of_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A workload-identity (external_account) file is refused by name, with the kinds that work."""
    path = tmp_path / "wif.json"
    path.write_text(json.dumps({"type": "external_account", "audience": "//iam.googleapis.com/x"}))
    code, out = check(tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": str(path)}, capsys)
    assert code == 2
    assert problems(out) == [
        f"endpoints[0].credentials_file: '{path}' is a 'external_account' credentials file; Vertex AI probes "
        "take a 'service_account' key or an 'authorized_user' file (gcloud auth application-default login)"
    ]


def test_a_key_file_missing_fields_and_a_broken_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing fields are listed; an unusable private key is reported without quoting it."""
    broken = key_file(tmp_path, client_email=None)
    _, out = check(tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": str(broken)}, capsys)
    assert problems(out) == [
        f"endpoints[0].credentials_file: '{broken}': the service_account file lacks client_email"
    ]
    garbled = key_file(
        tmp_path, private_key="-----BEGIN PRIVATE KEY-----\nCANARYnotakey\n-----END PRIVATE KEY-----\n"
    )
    _, out = check(tmp_path, {"url": VERTEX_URL, "auth": "bearer", "credentials_file": str(garbled)}, capsys)
    assert problems(out) == [
        f"endpoints[0].credentials_file: '{garbled}': the service_account file's private_key cannot be used"
    ]
    assert "CANARYnotakey" not in out


def test_vertex_needs_a_project_and_a_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no project_id in the key file nor `project`, on a host naming no location, both are asked for."""
    path = key_file(tmp_path, project_id=None)
    url = "wss://vertex-proxy.internal/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
    code, out = check(tmp_path, {"url": url, "auth": "bearer", "credentials_file": str(path)}, capsys)
    assert code == 2
    assert problems(out) == [
        "endpoints[0].location: Vertex AI needs a location: set location (the URL's host names none)",
        "endpoints[0].project: Vertex AI needs a project: set project (the credentials name none)",
    ]


def test_application_default_credentials_naming_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """$GOOGLE_APPLICATION_CREDENTIALS is checked like credentials_file, and named in the message."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/run/secrets/missing.json")
    code, out = check(tmp_path, {"url": VERTEX_URL, "auth": "bearer", "project": "p"}, capsys)
    assert code == 2
    assert problems(out) == [
        "endpoints[0]: $GOOGLE_APPLICATION_CREDENTIALS: cannot read '/run/secrets/missing.json': "
        "No such file or directory"
    ]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        pytest.param(
            {"url": VERTEX_URL, "auth": "token"},
            "endpoints[0].auth: ephemeral tokens are served by the Gemini API "
            "(BidiGenerateContentConstrained), "
            "not by Vertex AI",
            id="token-on-vertex",
        ),
        pytest.param(
            {"auth": "token"},
            "endpoints[0].url: ephemeral tokens are served by v1alpha only "
            "(.../google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained)",
            id="token-on-v1beta",
        ),
        pytest.param(
            {"url": CONSTRAINED_URL, "auth": "token", "token": {"expire": "1m", "new_session_expire": "5m"}},
            "endpoints[0].token.new_session_expire: 300 s is after expire 60 s "
            "(the service refuses a token whose "
            "sessions may start after it expires)",
            id="new-session-after-expiry",
        ),
        pytest.param(
            {"auth": "header", "credentials_file": "/x.json"},
            "endpoints[0].credentials_file: only for auth: bearer (Google credentials)",
            id="credentials-file-without-bearer",
        ),
    ],
)
def test_token_and_auth_combinations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: dict[str, Any], expected: str
) -> None:
    """Settings that cannot work together are refused with the rule that joins them."""
    code, out = check(tmp_path, endpoint, capsys)
    assert code == 2
    assert problems(out) == [expected]


def test_a_valid_vertex_endpoint_says_where_its_credentials_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary names the key file, the project (from the key file) and the quota project; no secret."""
    path = key_file(tmp_path)
    endpoint = {
        "url": VERTEX_URL,
        "auth": "bearer",
        "credentials_file": str(path),
        "quota_project": "billing",
    }
    code, out = check(tmp_path, endpoint, capsys)
    assert code == 0, out
    assert (
        f"endpoints[0] 'vertex': Google credentials from key file '{path}', project 'emulator-project', "
        "quota project 'billing'" in out
    )
    assert json.loads(path.read_text())["private_key"].splitlines()[1] not in out


def test_the_mint_must_fit_the_probe_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A token endpoint's mint deadline counts toward the interval a probe must finish in."""
    config = {
        "endpoints": [
            {"name": "browser", "url": CONSTRAINED_URL, "auth": "token", "token": {"timeout": "15s"}}
        ],
        "models": [{"id": "gemini-2.5-flash-native-audio-latest"}],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(json.dumps(config))
    assert main(["check-config", "-c", str(path)]) == 2
    assert problems(capsys.readouterr().out) == [
        "endpoints[0].token.timeout: 15 s + probes.timeouts 50 s exceed probes.interval 60 s "
        "(the mint comes before every session)"
    ]
