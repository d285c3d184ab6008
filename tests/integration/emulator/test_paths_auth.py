"""Every URL path and credential form reaches setupComplete; wrong ones fail as the service does."""

from __future__ import annotations

import aiohttp
import pytest

from monitor.emulator import RunningEmulator
from tests.integration.emulator.conftest import EmulatorFactory
from tests.integration.emulator.wsclient import GEMINI, VERTEX, connect, setup, text_turn

PATHS = [
    pytest.param(GEMINI.format("v1beta"), "gemini-2.5-flash-native-audio-latest", id="gemini-v1beta"),
    pytest.param(GEMINI.format("v1alpha"), "gemini-3.8-live", id="gemini-v1alpha"),
    pytest.param(GEMINI.format("v1"), "gemini-3.1-flash-live-preview", id="gemini-v1"),
    pytest.param("/" + GEMINI.format("v1"), "gemini-3.8-live", id="sdk-double-slash"),
    pytest.param(GEMINI.format("v1alpha") + "Constrained", "gemini-3.8-live", id="constrained"),
    pytest.param(VERTEX.format("v1"), "gemini-live-2.5-flash-native-audio", id="vertex-v1"),
    pytest.param(VERTEX.format("v1beta1"), "gemini-3.8-live", id="vertex-v1beta1"),
]


@pytest.mark.parametrize(("path", "model"), PATHS)
async def test_each_path_completes_setup(emulator: RunningEmulator, path: str, model: str) -> None:
    """Each documented method path answers setup with setupComplete (sessionId only on Vertex)."""
    async with connect(emulator.base_url + path) as client:
        await client.send(setup(model))
        first = await client.receive()
    assert first is not None
    assert set(first) == {"setupComplete"}
    assert ("sessionId" in first["setupComplete"]) == ("aiplatform" in path)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({"x-goog-api-key": "k1"}, "", id="header"),
        pytest.param({}, "?key=k1", id="query-key"),
        pytest.param({}, "?access_token=auth_tokens/abc", id="query-token"),
        pytest.param({"Authorization": "Token auth_tokens/abc"}, "", id="authorization-token"),
        pytest.param({"Authorization": "Bearer ya29.token"}, "", id="bearer"),
    ],
)
async def test_each_auth_method_is_accepted(
    emulator_with: EmulatorFactory, headers: dict[str, str], query: str
) -> None:
    """The credential is found in the header, the query or the Authorization header."""
    async with (
        emulator_with(accepted_keys=["k1", "auth_tokens/abc", "ya29.token"]) as emulator,
        connect(emulator.url + query, headers=headers) as client,
    ):
        await client.send(setup())
        first = await client.receive()
    assert first == {"setupComplete": {}}


async def test_missing_key_gets_unregistered_callers_1008(emulator: RunningEmulator) -> None:
    """No credential at all: 1008 with the service's (123-byte truncated) unregistered-callers reason."""
    async with connect(emulator.url, headers={}) as client:
        await client.send(setup())
        seen = await client.until_end()
    assert seen.close_code == 1008
    assert seen.close_reason == (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API c"
    )
    assert len(seen.close_reason.encode()) == 123


async def test_wrong_key_gets_1007_key_not_valid(emulator_with: EmulatorFactory) -> None:
    """A key outside accepted_keys: 1007 "API key not valid. Please pass a valid API key." after setup."""
    async with (
        emulator_with(accepted_keys=["good"]) as emulator,
        connect(emulator.url, headers={"x-goog-api-key": "bad"}) as client,
    ):
        await client.send(setup())
        seen = await client.until_end()
    assert (seen.close_code, seen.close_reason) == (1007, "API key not valid. Please pass a valid API key.")
    assert seen.messages == []


@pytest.mark.parametrize(
    "path",
    [
        "/ws/google.ai.generativelanguage.v1beta.generative_service.BidiGenerateContent/channel",
        GEMINI.format("v1beta") + "Constrained",  # Constrained exists on v1alpha only
        "/ws/google.ai.generativelanguage.v2.GenerativeService.BidiGenerateContent",
        "/",
    ],
)
async def test_wrong_path_fails_the_handshake_with_404(emulator: RunningEmulator, path: str) -> None:
    """A misspelt method never upgrades: HTTP 404 at the handshake."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(emulator.base_url + path, headers={"x-goog-api-key": "k"})
    assert caught.value.status == 404


async def test_key_never_logged(emulator: RunningEmulator, caplog: pytest.LogCaptureFixture) -> None:
    """The emulator logs the credential's kind, never its value."""
    canary = "AIzaCANARY-do-not-log-0123456789"
    caplog.set_level("DEBUG")
    async with connect(emulator.url + f"?key={canary}-q", headers={"x-goog-api-key": canary}) as client:
        await client.send(setup())
        await client.receive()
        await client.send(text_turn())
        await client.until("turnComplete")
    assert caplog.records, "the emulator logs each connection"
    assert canary not in caplog.text
