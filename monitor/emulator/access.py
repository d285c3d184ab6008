"""Who may use the emulated service: the credential routes beside the Live API and each session's admission.

Routes (added by `add_credential_routes`): `POST /token` (the OAuth endpoint, `oauth.py`) and
`POST /v1alpha/auth_tokens` (the ephemeral-token service, `tokens.py`); both draw their faults from the
scenario (`token_service`, `oauth_token`) per request, as the upgrade does.

Admission, in the service's order: no credential at all is 1008 "unregistered callers"; a credential the
scenario lists in `accepted_keys` is taken as it is; an access token (`Authorization: Bearer`) must be one
this emulator issued and not yet expired, else the upgrade is refused with HTTP 401 UNAUTHENTICATED; on
`BidiGenerateContentConstrained` a minted ephemeral token starts a session (and spends one use), and a token
anywhere else is refused; an API key must be accepted (`accepted_keys`, or any non-empty key when unset),
else 1007 "API key not valid".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from monitor.emulator.faults import draw_request_faults, http_status_response
from monitor.emulator.oauth import oauth_error, read_form
from monitor.emulator.paths import Credential, CredentialKind, Endpoint
from monitor.emulator.reasons import REASONS
from monitor.emulator.resumption import Rejection
from monitor.emulator.scenarios import FaultKind, Location
from monitor.emulator.state import EmulatorState
from monitor.emulator.tokens import google_error

__all__ = ["add_credential_routes", "admit", "bearer_refusal"]

OAUTH_TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
AUTH_TOKENS_PATH = "/v1alpha/auth_tokens"
_HANG_LIMIT = 3600.0
_MAX_JSON_BYTES = 256 * 1024


def add_credential_routes(app: web.Application, state_key: web.AppKey[EmulatorState]) -> None:
    async def oauth_token(request: web.Request) -> web.StreamResponse:
        state = request.app[state_key]
        if (faulted := await _faults(state, Location.OAUTH_TOKEN, oauth=True)) is not None:
            return faulted
        form = await read_form(request)
        if form is None:
            return oauth_error(400, "invalid_request", "The request body is not a token request.")
        return state.oauth.grant(form, token_uri=str(request.url.with_query(None)))

    async def auth_tokens(request: web.Request) -> web.StreamResponse:
        state = request.app[state_key]
        if (faulted := await _faults(state, Location.TOKEN_SERVICE, oauth=False)) is not None:
            return faulted
        key = request.headers.get("x-goog-api-key", "").strip() or request.query.get("key", "").strip()
        if not key:
            return google_error(403, REASONS["unregistered_caller"])
        accepted = state.scenario.accepted_keys
        if accepted is not None and key not in accepted:
            return google_error(400, REASONS["api_key_invalid"])
        if request.content_length is not None and request.content_length > _MAX_JSON_BYTES:
            return google_error(400, "Request payload size exceeds the limit.")
        try:
            async with asyncio.timeout(10.0):
                raw = await request.read()  # bounded by the app's client_max_size (1 MiB)
        except (TimeoutError, web.HTTPException):
            return google_error(400, "The request body could not be read.")
        if len(raw) > _MAX_JSON_BYTES:
            return google_error(400, "Request payload size exceeds the limit.")
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return google_error(400, "Invalid JSON payload received.")
        return state.tokens.mint(body)

    app.router.add_post(OAUTH_TOKEN_PATH, oauth_token)
    app.router.add_post(AUTH_TOKENS_PATH, auth_tokens)


async def _faults(state: EmulatorState, location: Location, *, oauth: bool) -> web.StreamResponse | None:
    for fault in draw_request_faults(state, location):
        if fault.kind is FaultKind.DELAY:
            low, high = fault.delay_ms
            await asyncio.sleep(state.rng.uniform(low, high) / 1000)
        elif fault.kind is FaultKind.HANG:
            await asyncio.sleep(_HANG_LIMIT)
        elif fault.kind is FaultKind.HTTP_STATUS:
            status = fault.status or 500
            if oauth and fault.body is None:
                error = "temporarily_unavailable" if status == 503 else "server_error"
                return oauth_error(status, error if status >= 500 else "invalid_grant", f"HTTP {status}")
            return http_status_response(fault)
    return None


def bearer_refusal(state: EmulatorState, credential: Credential) -> web.Response | None:
    """The upgrade's answer to an access token this emulator did not issue (or that expired)."""
    if credential.kind is not CredentialKind.BEARER or _listed(state, credential):
        return None
    if state.oauth.valid(credential.value):
        return None
    body = {
        "error": {
            "code": 401,
            "message": REASONS["invalid_credentials"],
            "status": "UNAUTHENTICATED",
        }
    }
    return web.json_response(body, status=401)


def admit(
    state: EmulatorState, endpoint: Endpoint, credential: Credential, setup: dict[str, Any]
) -> dict[str, Any] | Rejection:
    """The session's effective setup, or the close that refuses it (bearer tokens: see bearer_refusal)."""
    if credential.kind is CredentialKind.NONE:
        return Rejection(1008, REASONS["unregistered_caller"])
    if _listed(state, credential) or credential.kind is CredentialKind.BEARER:
        return setup
    if credential.kind is CredentialKind.TOKEN:
        if not endpoint.constrained:
            return Rejection(1008, REASONS["invalid_credentials"])
        return state.tokens.admit(credential.value, setup)
    accepted = state.scenario.accepted_keys
    if accepted is not None and credential.value not in accepted:
        return Rejection(1007, REASONS["api_key_invalid"])
    return setup


def _listed(state: EmulatorState, credential: Credential) -> bool:
    accepted = state.scenario.accepted_keys
    return accepted is not None and credential.value in accepted
