"""Vertex AI on google-auth credentials against the emulator's OAuth endpoint: refresh, expiry, failures."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from monitor.config.settings import load_settings
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.daemon.scheduler import ProbeJob, ProbeScheduler, SessionBudgets
from monitor.emulator import Scenario, load_scenario, start_emulator
from monitor.live.conversation import Trace
from monitor.log import configure_logging
from monitor.probe.oauth import GoogleAccessTokens
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.runner import run_probe
from monitor.probe.target import AuthKind, PhaseBudgets, ProbeTarget
from monitor.store.records import Store
from tests.integration.probe.credentials_kit import (
    GEMINI_MODEL,
    VERTEX_MODEL,
    VERTEX_PATH,
    EmulatedClock,
    secrets_of,
    service_account_file,
    token_uri,
    write_config,
)
from tests.unit.live.scripted_server import answer_turn, drain, read_turn, serve, setup_ok

FAST = PhaseBudgets(connect=3.0, setup=3.0, first_response=3.0, turn=5.0)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud ADC file either


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def vertex_endpoint(url: str, key: Path, **extra: Any) -> dict[str, Any]:
    return {"name": "vertex", "url": url, "auth": "bearer", "credentials_file": str(key), **extra}


async def test_an_emulated_hour_of_vertex_probes_all_authenticate(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The daemon's scheduler probes once an emulated minute for an hour while access tokens live 10 minutes:
    every probe authenticates on a token refreshed before it expired, and no secret leaves the process."""
    clock = EmulatedClock()
    logs = io.StringIO()
    configure_logging(level=logging.DEBUG, stream=logs)
    scenario = Scenario(name="vertex-hour", access_token_lifetime_seconds=600)
    async with start_emulator(scenario, latency_scale=0.0, clock=clock) as emulator:
        assert emulator.state is not None
        key = service_account_file(emulator, tmp_path)
        endpoint = vertex_endpoint(emulator.base_url + VERTEX_PATH, key, location="us-central1")
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        jobs = [ProbeJob(target, kind) for target, kind in settings.targets()]
        source = jobs[0].target.credentials
        store = Store(settings.store.path)
        registry = CollectorRegistry()
        metrics = ProbeMetrics(registry)
        metrics.register_targets("vertex", [ModelInfo(VERTEX_MODEL, VERTEX_MODEL, False)], [ProbeKind.TEXT])

        an_hour_passed = asyncio.Event()

        async def probe(target: ProbeTarget, kind: ProbeKind, run_id: str) -> Any:
            clock.advance(60.0)  # one probe interval of emulated time per run
            if clock.offset >= 3600:
                an_hour_passed.set()
            return await run_probe(target, kind, http=http, clock=clock, run_id=run_id)

        scheduler = ProbeScheduler(
            jobs,
            interval=0.1,
            probe=probe,
            store=store,
            metrics=metrics,
            budgets=SessionBudgets(
                sessions_per_minute=100, sessions_per_day=10_000, max_concurrent_sessions=2
            ),
            clock=clock,
            start_delay=0.05,
        )
        await scheduler.start()
        async with asyncio.timeout(90):
            await an_hour_passed.wait()
        await scheduler.stop(grace=5.0)
        token = source.secrets()[0]  # type: ignore[union-attr]
        assert emulator.state.oauth.valid(token)
        clock.advance(601)
        assert not emulator.state.oauth.valid(token), "the emulator expires the tokens it issues"
        grants = emulator.state.oauth.grants
    records = store.query()
    store.close()
    assert clock.offset >= 3600
    assert len(records) >= 55
    assert [r.outcome for r in records if not r.ok] == []
    # About one refresh per 5 emulated minutes (10-minute tokens renewed in their last 5), not one a probe.
    assert 10 <= grants <= 16, grants
    exported = generate_latest(registry).decode()
    stored = json.dumps([r.to_record() for r in records])
    for secret in [token, *secrets_of(key)]:
        for where, text in (("records", stored), ("metrics", exported), ("logs", logs.getvalue())):
            assert secret not in text, f"a credential reached the {where}"


async def test_quota_project_travels_as_x_goog_user_project(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The session's upgrade carries the bearer token and x-goog-user-project with the quota project."""
    seen: list[dict[str, str]] = []

    async def record_headers(ws: web.WebSocketResponse, request: web.Request) -> None:
        seen.append(dict(request.headers))
        await setup_ok(ws)
        await read_turn(ws)
        await answer_turn(ws)
        await drain(ws)

    async with (
        start_emulator(Scenario(name="oauth"), latency_scale=0.0) as emulator,
        serve(record_headers) as url,
    ):
        key = service_account_file(emulator, tmp_path)
        # The scripted server serves the Gemini path: OAuth works there too, without a project.
        endpoint = vertex_endpoint(url, key, quota_project="billing-project")
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": GEMINI_MODEL}])))
        target, kind = settings.targets()[0]
        result = await run_probe(target, kind, http=http)
    assert result.outcome is Outcome.OK, result.to_record()
    assert seen[0]["x-goog-user-project"] == "billing-project"
    assert seen[0]["Authorization"].startswith("Bearer ya29.emu-")


@pytest.mark.parametrize(
    ("fault", "cause", "code"),
    [
        pytest.param({"kind": "http_status", "status": 400, "body": '{"error": "invalid_grant", '
                      '"error_description": "Invalid JWT Signature."}'}, Cause.AUTH, 400, id="revoked-key"),
        pytest.param({"kind": "hang"}, Cause.DEADLINE, None, id="refresh-hangs"),
        # An answer past the 64 KiB bound is refused unread, whatever it says.
        pytest.param({"kind": "http_status", "status": 400, "body": "x" * 200_000}, Cause.UNAVAILABLE, None,
                     id="flooding-answer"),
    ],
)  # fmt: skip
async def test_a_failed_refresh_is_a_credentials_outcome(
    tmp_path: Path, http: aiohttp.ClientSession, fault: dict[str, Any], cause: Cause, code: int | None
) -> None:
    """A refused or hanging OAuth refresh is credentials_error in phase credentials, never a provider failure,
    and no Live session is attempted for it."""
    scenario = Scenario.model_validate({"name": "oauth-down", "faults": [{**fault, "at": "oauth_token"}]})
    async with start_emulator(scenario, latency_scale=0.0) as emulator:
        key = service_account_file(emulator, tmp_path)
        endpoint = vertex_endpoint(emulator.base_url + VERTEX_PATH, key, location="us-central1")
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        source = target.credentials
        assert source is not None
        source._timeout = 1.0  # type: ignore[attr-defined]
        result = await run_probe(target, kind, http=http)
    record = result.to_record()
    assert (result.outcome, result.cause, result.code, result.phase) == (
        Outcome.CREDENTIALS_ERROR,
        cause,
        code,
        Phase.CREDENTIALS,
    ), record
    assert result.recovery is None
    assert record["timings"]["connect"] is None
    assert "OAuth token refresh" in result.detail


async def test_an_expired_access_token_is_refused_at_the_upgrade(http: aiohttp.ClientSession) -> None:
    """A bearer token the emulator issued stops working when it expires: HTTP 401, cause auth."""
    clock = EmulatedClock()
    scenario = Scenario(name="expiry", access_token_lifetime_seconds=300)
    async with start_emulator(scenario, latency_scale=0.0, clock=clock) as emulator:
        assert emulator.state is not None
        form = {"grant_type": "refresh_token"}
        info = emulator.state.oauth.new_authorized_user(token_uri=token_uri(emulator))
        form |= {k: info[k] for k in ("client_id", "client_secret", "refresh_token")}
        async with http.post(token_uri(emulator), data=form) as response:
            token = (await response.json())["access_token"]
        target = ProbeTarget(
            endpoint="vertex",
            url=emulator.base_url + VERTEX_PATH,
            model=VERTEX_MODEL,
            model_prefix="projects/p/locations/us-central1/publishers/google/models/",
            api_key=SecretStr(token),
            auth=AuthKind.BEARER,
            budgets=FAST,
            pace_audio=False,
            recover=False,
        )
        fresh = await run_probe(target, ProbeKind.TEXT, http=http, clock=clock)
        clock.advance(301)
        expired = await run_probe(target, ProbeKind.TEXT, http=http, clock=clock)
    assert fresh.outcome is Outcome.OK, fresh.to_record()
    assert (expired.outcome, expired.cause, expired.code) == (Outcome.HANDSHAKE_REJECTED, Cause.AUTH, 401)
    assert token not in json.dumps(expired.to_record())


async def test_authorized_user_adc_refreshes_with_its_refresh_token(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADC from $GOOGLE_APPLICATION_CREDENTIALS naming an authorized_user file (gcloud's kind) works too, its
    quota_project_id becomes x-goog-user-project, and the refresh token stays out of the record."""
    async with start_emulator(Scenario(name="adc"), latency_scale=0.0) as emulator:
        assert emulator.state is not None
        info = emulator.state.oauth.new_authorized_user(
            token_uri=token_uri(emulator), quota_project="quota-p"
        )
        adc = tmp_path / "adc.json"
        adc.write_text(json.dumps(info))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        endpoint = {
            "name": "vertex",
            "url": emulator.base_url + VERTEX_PATH,
            "auth": "bearer",
            "project": "p",
            "location": "us-central1",
        }
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        assert target.credentials is not None
        credential = await target.credentials.credential(http, EmulatedClock(), Trace())
        result = await run_probe(target, kind, http=http)
    assert result.outcome is Outcome.OK, result.to_record()
    assert credential.headers == {"x-goog-user-project": "quota-p"}
    assert info["refresh_token"] not in json.dumps(result.to_record())


async def test_the_shipped_oauth_outage_scenario_fails_probes_only_once_the_token_expires(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """oauth-refresh-failing: before the onset refreshes work; after it the current token carries the probes
    until it expires, then every probe is credentials_error (503, phase credentials), never a Live failure."""
    clock = EmulatedClock()
    async with start_emulator(
        load_scenario("oauth-refresh-failing"), latency_scale=0.0, clock=clock
    ) as emulator:
        key = service_account_file(emulator, tmp_path)
        endpoint = vertex_endpoint(emulator.base_url + VERTEX_PATH, key, location="us-central1")
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        source = target.credentials
        assert isinstance(source, GoogleAccessTokens)

        async def probe_after(seconds: float) -> Outcome:
            clock.advance(seconds)
            result = await run_probe(target, kind, http=http, clock=clock)
            refresh = source._refresh
            if refresh is not None:
                await asyncio.wait({refresh}, timeout=10)
            return result

        first = await probe_after(0)  # token valid until 300
        renewed = await probe_after(200)  # inside the margin: renewed in the background, valid until 500
        carried = await probe_after(200)  # after the onset: the renewal fails, the token still works
        expired = await probe_after(150)  # past 500: no token, the refresh fails
    assert [r.outcome for r in (first, renewed, carried)] == [Outcome.OK] * 3
    assert source.refreshes == 2
    assert (expired.outcome, expired.cause, expired.code, expired.phase) == (
        Outcome.CREDENTIALS_ERROR, Cause.UNAVAILABLE, 503, Phase.CREDENTIALS,
    ), json.dumps(expired.to_record())  # fmt: skip


async def test_express_mode_is_vertex_ai_with_an_api_key(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Vertex AI URL with `auth: header` sends the API key and names the model publishers/google/models/<id>
    (what google-genai sends in express mode); no project and no Google credentials are needed."""
    monkeypatch.setenv("GEMINI_API_KEY", "CANARY-express-not-a-key")
    scenario = Scenario(name="express", accepted_keys=["CANARY-express-not-a-key"])
    async with start_emulator(scenario, latency_scale=0.0) as emulator:
        endpoint = {"name": "express", "url": emulator.base_url + VERTEX_PATH, "location": "global"}
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        result = await run_probe(target, kind, http=http)
    assert target.credentials is None
    assert target.model_prefix == "publishers/google/models/"
    assert result.outcome is Outcome.OK, result.to_record()
    assert "CANARY-express-not-a-key" not in json.dumps(result.to_record())


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            ("text/html", "<html><body>Sign in to the guest network</body></html>"), id="login-page"
        ),
        pytest.param(("application/json", '"just a string"'), id="json-string"),
        pytest.param(
            ("application/json", json.dumps({"access_token": "ya29.abcdefgh", "expires_in": 10**30})),
            id="expires-beyond-any-clock",
        ),
    ],
)
async def test_a_token_answer_google_auth_cannot_read_is_a_credentials_outcome(
    tmp_path: Path, http: aiohttp.ClientSession, answer: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A 200 from the token endpoint that is not a token response (a captive portal's page, a JSON string,
    an expiry no clock holds) fails inside google-auth: credentials_error, not prober_error, no traceback."""
    content_type, body = answer

    async def token(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        from monitor.clock import SYSTEM_CLOCK  # noqa: PLC0415
        from monitor.emulator.oauth import OAuthIssuer  # noqa: PLC0415

        uri = f"http://127.0.0.1:{runner.addresses[0][1]}/token"
        key = tmp_path / "sa.json"
        key.write_text(json.dumps(OAuthIssuer(SYSTEM_CLOCK).new_service_account(token_uri=uri, project="p")))
        endpoint = vertex_endpoint("ws://127.0.0.1:9" + VERTEX_PATH, key, location="us-central1")
        settings = load_settings(str(write_config(tmp_path, [endpoint], [{"id": VERTEX_MODEL}])))
        target, kind = settings.targets()[0]
        caplog.set_level(logging.ERROR)
        result = await run_probe(target, kind, http=http)
    finally:
        await runner.cleanup()
    assert (result.outcome, result.phase) == (Outcome.CREDENTIALS_ERROR, Phase.CREDENTIALS), result.detail
    assert "is not a token response" in result.detail
    assert not [r for r in caplog.records if "probe bug" in r.getMessage()]
