"""The emulator's ephemeral-token service: `POST /v1alpha/auth_tokens` and the tokens it minted.

What Google's documentation (ai.google.dev/gemini-api/docs/ephemeral-tokens) and google-genai's
`auth_tokens.create` define, enforced:

- minting needs an API key (`x-goog-api-key` or `?key=`), checked like the Live API's (`accepted_keys`);
- `uses` (default 1) sessions may start with a token, each before `newSessionExpireTime` (default 1 minute)
  and `expireTime` (default 30 minutes); an expireTime in the past, or a newSessionExpireTime after it, is
  HTTP 400 INVALID_ARGUMENT;
- `bidiGenerateContentSetup` locks the session's setup: every field it sets (or only the `fieldMask` paths)
  must not be contradicted by the session's own setup, else the session is closed with 1007 (the failure
  mode of a backend that locks one model or config while the app sends another); absent fields are filled in.

A session on `BidiGenerateContentConstrained` with a token that is unknown, used up or past its times is
closed with 1008 "Request had invalid authentication credentials." (the wording the service uses for a
credential it does not accept; which text it sends for each token state is not documented). Faults at
`token_service` (an HTTP status, a hang, a delay) make the mint fail or slow down. Tokens are never logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from monitor.clock import Clock
from monitor.emulator.reasons import REASONS
from monitor.emulator.resumption import Rejection
from monitor.emulator.schema import ClientMessageError, normalise

__all__ = ["TokenLedger", "google_error"]

_DEFAULT_EXPIRE = timedelta(minutes=30)
_DEFAULT_NEW_SESSION_EXPIRE = timedelta(minutes=1)
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def google_error(status: int, message: str) -> web.Response:
    """Google's JSON error body, as the REST methods send it."""
    body = {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}
    return web.Response(status=status, text=json.dumps(body, indent=2), content_type="application/json")


@dataclass(slots=True)
class _Token:
    uses_left: int
    expire: datetime
    new_session_expire: datetime
    locked: dict[str, Any] | None  # the normalised inner setup
    mask: tuple[str, ...]  # locked paths; empty: every field of `locked`


@dataclass(slots=True)
class TokenLedger:
    """Minted tokens by name (`auth_tokens/...`), judged on the emulator's wall clock."""

    clock: Clock
    _tokens: dict[str, _Token] = field(default_factory=dict)
    minted: int = 0  # for tests

    def mint(self, body: Any) -> web.Response:
        """Answer one auth_tokens.create request body (the key has been checked)."""
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received. Expected an object.")
        now = self.clock.now()
        try:
            uses = int(body.get("uses", 1))
            expire = _time(body.get("expireTime"), now + _DEFAULT_EXPIRE)
            new_session = _time(body.get("newSessionExpireTime"), now + _DEFAULT_NEW_SESSION_EXPIRE)
        except (TypeError, ValueError) as error:
            return google_error(400, f"Invalid value: {error}"[:200])
        if uses < 0:
            return google_error(400, "uses must not be negative.")
        if expire <= now:
            return google_error(400, "expire_time must be in the future.")
        if new_session > expire:
            return google_error(400, "new_session_expire_time must not be after expire_time.")
        locked: dict[str, Any] | None = None
        mask: tuple[str, ...] = ()
        if (setup := body.get("bidiGenerateContentSetup")) is not None:
            try:
                locked = normalise({"setup": setup})["setup"]
            except ClientMessageError as error:
                return google_error(400, error.reason)
            raw_mask = body.get("fieldMask") or ""
            mask = tuple(p.strip() for p in str(raw_mask).split(",") if p.strip())
        name = "auth_tokens/" + secrets.token_urlsafe(24)
        self._tokens[name] = _Token(uses, expire, new_session, locked, mask)
        self._forget_expired(now)
        self.minted += 1
        return web.json_response({"name": name})

    def admit(self, token: str, setup: dict[str, Any]) -> dict[str, Any] | Rejection:
        """The session's effective setup if `token` may start it now (one use spent), else the close."""
        name = token if token.startswith("auth_tokens/") else f"auth_tokens/{token}"
        found = self._tokens.get(name)
        now = self.clock.now()
        if found is None or now >= found.expire or now >= found.new_session_expire or found.uses_left < 1:
            return Rejection(1008, REASONS["invalid_credentials"])
        if found.locked is not None and _contradicts(setup, found.locked, found.mask):
            return Rejection(1007, REASONS["invalid_argument"])
        found.uses_left -= 1
        if found.locked is None:
            return setup
        return _merged(setup, found.locked)

    def _forget_expired(self, now: datetime) -> None:
        for name in [n for n, t in self._tokens.items() if t.expire <= now]:
            del self._tokens[name]


def _time(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"the time {value!s} needs a UTC offset")
    return moment


def _at(setup: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = setup
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _contradicts(setup: Mapping[str, Any], locked: Mapping[str, Any], mask: tuple[str, ...]) -> bool:
    for path in mask or tuple(locked):
        present, wanted = _at(locked, path)
        given, value = _at(setup, path)
        if present and given and value != wanted:
            return True
    return False


def _merged(setup: Mapping[str, Any], locked: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(setup)
    for key, value in locked.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
