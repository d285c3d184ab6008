"""Ephemeral tokens as browser and phone apps use them: one minted per probe session, against the emulator's
auth_tokens service and BidiGenerateContentConstrained; uses, expiry, locked setups, token service faults."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import SecretStr

from monitor.cli import main
from monitor.clock import SYSTEM_CLOCK
from monitor.config.settings import MonitorSettings, load_settings
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.emulator import RunningEmulator, Scenario, start_emulator
from monitor.live.conversation import Trace
from monitor.log import configure_logging, get_logger, log_result
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.runner import run_probe
from monitor.probe.target import AuthKind, PhaseBudgets, ProbeTarget
from monitor.store.records import Store
from monitor.web.status_page import collect_status, render_status_page
from tests.integration.probe.credentials_kit import (
    API_KEY_CANARY,
    CONSTRAINED_PATH,
    GEMINI_MODEL,
    EmulatedClock,
    write_config,
)
from tests.integration.probe.test_cli_probe import probe as cli_probe

V1ALPHA = "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
FAST = PhaseBudgets(connect=3.0, setup=3.0, first_response=3.0, turn=5.0)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY_CANARY)


def token_settings(
    emulator: RunningEmulator,
    directory: Path,
    *,
    token: dict[str, Any] | None = None,
    model: str = GEMINI_MODEL,
) -> MonitorSettings:
    endpoint: dict[str, Any] = {"name": "browser", "url": emulator.base_url + V1ALPHA, "auth": "token"}
    if token is not None:
        endpoint["token"] = token
    return load_settings(str(write_config(directory, [endpoint], [{"id": model}])))


def scenario(**fields: Any) -> Scenario:
    return Scenario.model_validate({"name": "tokens", **fields})


async def test_each_probe_session_mints_and_uses_its_own_token(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """Two probes mint two tokens, each timed as phase token and spent on BidiGenerateContentConstrained;
    neither the API key nor a minted token reaches the records, the logs or the metrics."""
    logs = io.StringIO()
    configure_logging(level=logging.DEBUG, stream=logs)
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.register_targets(
        "browser",
        [ModelInfo(GEMINI_MODEL, GEMINI_MODEL, True)],
        [ProbeKind.TEXT],
        credentials_phase=Phase.TOKEN,
    )
    minted: list[str] = []
    async with start_emulator(scenario(), latency_scale=0.0) as emulator:
        assert emulator.state is not None
        settings = token_settings(emulator, tmp_path)
        target, kind = settings.targets()[0]
        assert target.credentials is not None
        results = []
        for _ in range(2):
            result = await run_probe(target, kind, http=http)
            metrics.observe(result)
            log_result(get_logger("monitor.scheduler"), result)
            results.append(result)
        # A token of our own, minted the same way, shows what minted tokens look like (never seen below).
        minted.append((await target.credentials.credential(http, SYSTEM_CLOCK, Trace())).value)
        assert emulator.state.tokens.minted == 3
    for result in results:
        assert result.outcome is Outcome.OK, result.to_record()
        assert result.timings[TimingPhase.TOKEN] >= 0
    exported = generate_latest(registry).decode()
    assert 'gemini_live_probe_phase_seconds_count{endpoint="browser",model="' in exported
    assert 'phase="token",probe="text"} 2.0' in exported
    assert minted[0].startswith("auth_tokens/")
    stored = json.dumps([r.to_record() for r in results])
    for secret in (API_KEY_CANARY, minted[0], minted[0].removeprefix("auth_tokens/")):
        for where, text in (("records", stored), ("metrics", exported), ("logs", logs.getvalue())):
            assert secret not in text, f"a credential reached the {where}"


async def test_a_token_starts_one_session_and_only_before_its_new_session_expiry(
    http: aiohttp.ClientSession,
) -> None:
    """uses: 1 is spent by the first session; a second session, or one after newSessionExpireTime, is refused
    with 1008 (auth) by the emulator, as a stale token is by the service."""
    clock = EmulatedClock()
    async with start_emulator(scenario(), latency_scale=0.0, clock=clock) as emulator:
        assert emulator.state is not None
        url = emulator.base_url + CONSTRAINED_PATH

        async def mint(**body: Any) -> str:
            service = f"http://{emulator.host}:{emulator.port}/v1alpha/auth_tokens"
            headers = {"x-goog-api-key": API_KEY_CANARY}
            async with http.post(service, json={"uses": 1, **body}, headers=headers) as response:
                assert response.status == 200, await response.text()
                return str((await response.json())["name"])

        def with_token(token: str) -> ProbeTarget:
            return ProbeTarget(
                endpoint="browser", url=url, model=GEMINI_MODEL, api_key=SecretStr(token),
                auth=AuthKind.TOKEN, budgets=FAST, pace_audio=False, recover=False,
            )  # fmt: skip

        once = await mint()
        first = await run_probe(with_token(once), ProbeKind.TEXT, http=http, clock=clock)
        again = await run_probe(with_token(once), ProbeKind.TEXT, http=http, clock=clock)
        late = await mint()
        clock.advance(61)  # newSessionExpireTime defaults to one minute
        stale = await run_probe(with_token(late), ProbeKind.TEXT, http=http, clock=clock)
    assert first.outcome is Outcome.OK, first.to_record()
    for refused in (again, stale):
        assert (refused.outcome, refused.cause, refused.code, refused.phase) == (
            Outcome.SERVER_CLOSE, Cause.AUTH, 1008, Phase.SETUP,
        ), refused.to_record()  # fmt: skip


async def test_the_service_refuses_bad_token_requests_with_its_errors(http: aiohttp.ClientSession) -> None:
    """An expireTime in the past and a newSessionExpireTime after expireTime are HTTP 400 INVALID_ARGUMENT."""
    async with start_emulator(scenario(), latency_scale=0.0) as emulator:
        service = f"http://{emulator.host}:{emulator.port}/v1alpha/auth_tokens"
        headers = {"x-goog-api-key": API_KEY_CANARY}
        bodies = [
            {"expireTime": "2020-01-01T00:00:00Z"},
            {"expireTime": "2999-01-01T00:10:00Z", "newSessionExpireTime": "2999-01-01T00:20:00Z"},
        ]
        answers = []
        for body in bodies:
            async with http.post(service, json=body, headers=headers) as response:
                answers.append((response.status, (await response.json())["error"]["status"]))
        async with http.post(service, json={}) as response:
            unregistered = response.status
    assert answers == [(400, "INVALID_ARGUMENT")] * 2
    assert unregistered == 403


@pytest.mark.parametrize(
    ("fields", "cause", "code"),
    [
        pytest.param({"faults": [{"kind": "http_status", "at": "token_service", "status": 503}]},
                     Cause.UNAVAILABLE, 503, id="outage-503"),
        pytest.param({"faults": [{"kind": "http_status", "at": "token_service", "status": 500}]},
                     Cause.INTERNAL, 500, id="internal-500"),
        pytest.param({"faults": [{"kind": "http_status", "at": "token_service", "status": 429}]},
                     Cause.QUOTA, 429, id="quota-429"),
        pytest.param({"accepted_keys": ["another-key"]}, Cause.AUTH, 400, id="our-bad-key"),
        pytest.param({"faults": [{"kind": "hang", "at": "token_service"}]}, Cause.DEADLINE, None, id="hang"),
    ],
)  # fmt: skip
async def test_a_failed_mint_is_classified_apart_from_the_live_session(
    tmp_path: Path, http: aiohttp.ClientSession, fields: dict[str, Any], cause: Cause, code: int | None
) -> None:
    """A mint failure is credentials_error in phase token, with the token service's status and message: an
    outage (unavailable, internal, deadline) is told apart from our key (auth) and our quota, and no Live
    session or recovery is attempted."""
    async with start_emulator(scenario(**fields), latency_scale=0.0) as emulator:
        settings = token_settings(emulator, tmp_path, token={"timeout": "1s"})
        target, kind = settings.targets()[0]
        result = await run_probe(target, kind, http=http)
    record = result.to_record()
    assert (result.outcome, result.cause, result.code, result.phase) == (
        Outcome.CREDENTIALS_ERROR, cause, code, Phase.TOKEN,
    ), record  # fmt: skip
    assert record["timings"]["connect"] is None
    assert result.recovery is None
    assert API_KEY_CANARY not in json.dumps(record)


async def test_a_slow_token_service_shows_in_the_token_phase(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A token service answering 300 ms late still lets the session start; the delay is in timings.token."""
    fault = {"kind": "delay", "at": "token_service", "delay_ms": [300, 300]}
    async with start_emulator(scenario(faults=[fault]), latency_scale=0.0) as emulator:
        settings = token_settings(emulator, tmp_path)
        target, kind = settings.targets()[0]
        result = await run_probe(target, kind, http=http)
    assert result.outcome is Outcome.OK, result.to_record()
    assert result.timings[TimingPhase.TOKEN] >= 0.3


async def test_a_locked_setup_the_session_contradicts_is_a_1007(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A token locked to another model (a backend locking one configuration while the app sends another) makes
    the session fail with 1007 invalid_argument at setup, as configured; the session's own lock succeeds."""
    lock = tmp_path / "locked.json"
    lock.write_text(json.dumps({"model": "models/gemini-3.8-live", "generationConfig": {"temperature": 0.2}}))
    async with start_emulator(scenario(), latency_scale=0.0) as emulator:
        contradicted = token_settings(emulator, tmp_path, token={"locked_setup": str(lock)})
        own = token_settings(emulator, tmp_path, token={"locked_setup": "session"})
        bad = await run_probe(*contradicted.targets()[0], http=http)
        good = await run_probe(*own.targets()[0], http=http)
    assert (bad.outcome, bad.cause, bad.code, bad.phase) == (
        Outcome.SERVER_CLOSE, Cause.INVALID_ARGUMENT, 1007, Phase.SETUP,
    ), bad.to_record()  # fmt: skip
    assert good.outcome is Outcome.OK, good.to_record()


async def test_a_token_service_echoing_our_key_leaks_it_nowhere(
    tmp_path: Path, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile token service quoting the API key in its error: the record, the status page with that turn
    open and the incident report show the failure, never the key."""
    body = json.dumps(
        {"error": {"code": 503, "message": f"key {API_KEY_CANARY} is overloaded", "status": "UNAVAILABLE"}}
    )
    fault = {"kind": "http_status", "at": "token_service", "status": 503, "body": body}
    async with start_emulator(scenario(faults=[fault]), latency_scale=0.0) as emulator:
        settings = token_settings(emulator, tmp_path)
        target, kind = settings.targets()[0]
        results = [await run_probe(target, kind, http=http) for _ in range(3)]
    assert {r.cause for r in results} == {Cause.UNAVAILABLE}
    assert "is overloaded" in results[0].detail
    store = Store(settings.store.path)
    store.append_many(results)
    now = results[-1].started_at + timedelta(minutes=1)
    page = render_status_page(collect_status(store, now), now=now, open_run_id=results[0].run_id)
    store.close()
    assert "credentials_error" in page
    assert main(["report", "--db", str(settings.store.path), "-c", str(tmp_path / "monitor.yaml")]) == 0
    report = capsys.readouterr().out
    for where, text in (("record", json.dumps(results[0].to_record())), ("page", page), ("report", report)):
        assert API_KEY_CANARY not in text, f"the key reached the {where}"


async def test_the_probe_command_mints_a_token_per_probe_with_auth_token() -> None:
    """`live-monitor probe --auth token` with an API key reproduces the browser path: one minted token per
    probe, each timed as `token`; the key and the tokens stay out of its output (the helper checks the key).
    """
    async with start_emulator(scenario(), latency_scale=0.0) as emulator:
        assert emulator.state is not None
        url = emulator.base_url + V1ALPHA
        run = await cli_probe("--model", GEMINI_MODEL, "-n", "2", "--json", "--auth", "token", "--url", url)
        minted = emulator.state.tokens.minted
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.code == 0, run.stderr
    assert [r["outcome"] for r in records] == ["ok", "ok"]
    assert all(r["timings"]["token"] is not None for r in records)
    assert minted == 2
    assert "auth_tokens/" not in run.stdout + run.stderr
