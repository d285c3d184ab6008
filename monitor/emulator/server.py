"""The emulator's aiohttp application: the upgrade (paths, auth, upgrade faults) and the server runner.

`build_app()` makes the application; `start_emulator()` serves it on a socket (ws, or wss with a self-signed
CA) for as long as the `async with` lasts. Logs carry the credential's kind, never its value.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from aiohttp import web

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.emulator.access import add_credential_routes, bearer_refusal
from monitor.emulator.faults import draw_request_faults, http_status_response
from monitor.emulator.paths import Endpoint, extract_credential, match_endpoint
from monitor.emulator.scenarios import FaultKind, Location, Scenario
from monitor.emulator.session import Session
from monitor.emulator.state import EmulatorState
from monitor.emulator.tls import self_signed_context
from monitor.emulator.wire import ServerWire

__all__ = ["GEMINI_V1BETA_PATH", "RunningEmulator", "build_app", "emulator_urls", "start_emulator"]

GEMINI_V1BETA_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
STATE_KEY = web.AppKey("emulator_state", EmulatorState)


_HANG_LIMIT = 3600.0  # an upgrade hang ends with the server at the latest
_log = logging.getLogger("monitor.emulator")


def build_app(
    scenario: Scenario,
    *,
    clock: Clock = SYSTEM_CLOCK,
    seed: int | None = None,
    onset_seconds: float | None = None,
    latency_scale: float = 1.0,
) -> web.Application:
    """The emulator application for one scenario; every connection draws its faults from `seed`'s RNG."""
    app = web.Application()
    app[STATE_KEY] = EmulatorState(
        scenario=scenario,
        clock=clock,
        rng=random.Random(seed),
        onset=scenario.onset_seconds if onset_seconds is None else onset_seconds,
        latency_scale=latency_scale,
    )
    add_credential_routes(app, STATE_KEY)
    app.router.add_get("/{path:.*}", _handle)
    app.on_shutdown.append(_cancel_handlers)
    return app


async def _cancel_handlers(app: web.Application) -> None:
    for task in list(app[STATE_KEY].handlers):
        task.cancel()


async def _handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    endpoint = match_endpoint(request.path)
    if endpoint is None:
        body = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
        return web.json_response(body, status=404)
    task = asyncio.current_task()
    assert task is not None
    request.app[STATE_KEY].handlers.add(task)
    try:
        return await _upgrade(request, state, endpoint)
    finally:
        request.app[STATE_KEY].handlers.discard(task)


async def _upgrade(request: web.Request, state: EmulatorState, endpoint: Endpoint) -> web.StreamResponse:
    for fault in draw_request_faults(state, Location.UPGRADE):
        if fault.kind is FaultKind.HTTP_STATUS:
            return http_status_response(fault)
        if fault.kind is FaultKind.HANG:
            await asyncio.sleep(_HANG_LIMIT)
        if fault.kind is FaultKind.TCP_DROP and request.transport is not None:
            request.transport.abort()
            return web.Response(status=500)
    ws = web.WebSocketResponse(autoping=False, max_msg_size=16 * 1024 * 1024)
    if not ws.can_prepare(request).ok:
        return web.json_response(
            {
                "error": {
                    "code": 400,
                    "message": "Expected a WebSocket upgrade.",
                    "status": "INVALID_ARGUMENT",
                }
            },
            status=400,
        )
    credential = extract_credential(request.headers, request.query)
    if (refusal := bearer_refusal(state, credential)) is not None:
        return refusal
    _log.info(
        "emulator connection api=%s version=%s credential=%s",
        endpoint.api.value,
        endpoint.version,
        credential.kind.value,
    )
    await ws.prepare(request)
    wire = ServerWire(ws, request, binary=state.scenario.frames == "binary")
    await Session(state, wire, endpoint, credential).run(ws)
    if not ws.closed:
        with suppress(ConnectionError, RuntimeError):
            await ws.close()
    return ws


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    host: str
    port: int
    tls: bool
    ca_file: str | None = None
    # The served app's shared state (credentials it issued, accounts it knows); tests and the CLI use it.
    state: EmulatorState | None = field(default=None, repr=False, compare=False)

    @property
    def base_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The same server for the REST methods (auth_tokens, the OAuth token endpoint)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Gemini API v1beta BidiGenerateContent URL."""
        return self.base_url + GEMINI_V1BETA_PATH


def emulator_urls(emulator: RunningEmulator) -> list[tuple[str, str]]:
    """(label, URL) of every method the emulator serves, for people to copy."""
    gemini = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"
    return [
        ("Gemini API v1beta", emulator.url),
        ("Gemini API v1alpha", emulator.base_url + gemini.format("v1alpha")),
        ("Gemini API v1", emulator.base_url + gemini.format("v1")),
        ("Ephemeral tokens (v1alpha)", emulator.base_url + gemini.format("v1alpha") + "Constrained"),
        ("Ephemeral tokens (POST)", emulator.http_url + "/v1alpha/auth_tokens"),
        ("OAuth token_uri (POST)", emulator.http_url + "/token"),
        (
            "Vertex AI v1",
            emulator.base_url + "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
        ),
    ]


@asynccontextmanager
async def start_emulator(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls_dir: str | None = None,
    seed: int | None = None,
    onset_seconds: float | None = None,
    latency_scale: float = 1.0,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[RunningEmulator]:
    """Serve the scenario until the block exits; port 0 picks a free port (see `.port`)."""
    app = build_app(
        scenario, clock=clock, seed=seed, onset_seconds=onset_seconds, latency_scale=latency_scale
    )
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    ssl_context = self_signed_context(tls_dir) if tls_dir is not None else None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
        bound = runner.addresses[0][1]  # the bound port (port 0 picks a free one)
        ca_file = f"{tls_dir}/ca.pem" if tls_dir is not None else None
        yield RunningEmulator(
            host=host, port=int(bound), tls=ssl_context is not None, ca_file=ca_file, state=app[STATE_KEY]
        )
    finally:
        await runner.cleanup()
