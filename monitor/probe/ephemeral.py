"""EphemeralTokens: a token minted per probe session, as browser and phone apps get theirs from a backend.

Client-to-server apps never hold the API key: their backend mints a short-lived token through the v1alpha
`auth_tokens` REST method (google-genai's `client.auth_tokens.create`) and the app opens
`BidiGenerateContentConstrained` with `Authorization: Token auth_tokens/...`. This source does the same for
every probe session: `POST {service}/v1alpha/auth_tokens` with the API key in `x-goog-api-key` and

    {"uses": 1, "expireTime": now + expire, "newSessionExpireTime": now + new_session_expire,
     "bidiGenerateContentSetup": {...}}          (the locked setup, when one is configured)

The mint is timed as its own phase, `token` (marks `token_start`/`token_end`), under its own deadline, with
the answer read up to a bound. A refusal is `CredentialFailed(phase=token, status=HTTP status)` carrying the
service's error message (Google's `{"error": {"code", "message", "status"}}`), classified like any other
failure by `classify.py`: a token service outage is told apart from the Live session's own failures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from monitor.clock import Clock
from monitor.live.conversation import Trace
from monitor.live.phase import Phase
from monitor.probe.credentials import Credential, CredentialFailed
from monitor.probe.record import format_utc

__all__ = ["EphemeralTokens", "TokenOptions", "token_service_url"]

_MAX_ANSWER_BYTES = 64 * 1024
_MAX_TOKEN_CHARS = 4096


def token_service_url(live_url: str) -> str:
    """The auth_tokens method beside a Live URL: same host and port, https (http for ws://)."""
    parts = urlsplit(live_url)
    scheme = "http" if parts.scheme == "ws" else "https"
    return urlunsplit((scheme, parts.netloc, "/v1alpha/auth_tokens", "", ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenOptions:
    """How tokens are minted: where, how many sessions each may start, how long, and the locked setup."""

    service_url: str
    uses: int = 1
    expire_seconds: float = 300.0  # expireTime: how long a started session may keep using it
    new_session_expire_seconds: float = 60.0  # newSessionExpireTime: how long a new session may start
    timeout_seconds: float = 10.0
    # The inner setup object locked into the token (bidiGenerateContentSetup); None: nothing locked.
    locked_setup: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EphemeralTokens:
    """Mints one token per session with the API key; the key never leaves this request's header."""

    api_key: str = field(repr=False)
    options: TokenOptions

    async def credential(self, http: aiohttp.ClientSession, clock: Clock, trace: Trace) -> Credential:
        options = self.options
        trace.phase = Phase.TOKEN
        now = clock.now()
        body: dict[str, Any] = {
            "uses": options.uses,
            "expireTime": format_utc(now + timedelta(seconds=options.expire_seconds)),
            "newSessionExpireTime": format_utc(now + timedelta(seconds=options.new_session_expire_seconds)),
        }
        if options.locked_setup is not None:
            body["bidiGenerateContentSetup"] = dict(options.locked_setup)
        trace.mark("token_start", clock.monotonic())
        try:
            async with asyncio.timeout(options.timeout_seconds):
                status, answer = await self._post(http, body)
        except TimeoutError:
            raise CredentialFailed(
                Phase.TOKEN, f"no token within {options.timeout_seconds:g} s", timed_out=True
            ) from None
        except aiohttp.ClientResponseError as error:  # a redirect, never followed (session.http_client)
            raise CredentialFailed(
                Phase.TOKEN, f"token service HTTP {error.status}: {error.message}", status=error.status
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise CredentialFailed(
                Phase.TOKEN, f"token service unreachable: {type(error).__name__}"
            ) from None
        trace.mark("token_end", clock.monotonic())
        if status != 200:
            raise CredentialFailed(Phase.TOKEN, _error_message(status, answer), status=status)
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not name.startswith("auth_tokens/") or len(name) > _MAX_TOKEN_CHARS:
            raise CredentialFailed(
                Phase.TOKEN, "the token service answered without a token name", status=status
            )
        return Credential("token", name)

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()

    async def _post(self, http: aiohttp.ClientSession, body: Mapping[str, Any]) -> tuple[int, Any]:
        headers = {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}
        async with http.post(self.options.service_url, data=json.dumps(body), headers=headers) as response:
            raw = await _read_bounded(response.content, _MAX_ANSWER_BYTES)
            try:
                answer: Any = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                answer = raw.decode("utf-8", errors="replace")
            return response.status, answer


async def _read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to `limit` bytes (a longer one is cut there: only its start can be a token or an error)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_chunked(16 * 1024):
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)


def _error_message(status: int, answer: Any) -> str:
    """`token service HTTP 503 UNAVAILABLE: <message>` from Google's error JSON (or the raw text)."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        state = str(error.get("status") or "")
        message = str(error.get("message") or "")
        text = f"{state}: {message}" if state else message
    else:
        text = str(answer)
    return f"token service HTTP {status}" + (f" {' '.join(text.split())[:200]}" if text.strip() else "")
