"""The credential one probe session connects with, and where it comes from.

Three ways production connects, one `CredentialSource` each:

    auth       source                       what a session gets
    header     StaticKey (the API key)      x-goog-api-key (Gemini API, or Vertex AI express mode)
    query      StaticKey                    ?key=
    bearer     oauth.GoogleAccessTokens     a Google OAuth access token, refreshed before it expires
    token      ephemeral.EphemeralTokens    an ephemeral token minted for this one session

A source that cannot produce a credential raises `CredentialFailed` (phase `credentials` or `token`, the HTTP
status of the token service when there was one); `classify.py` makes it a `credentials_error` outcome, never a
Live API failure. Every credential value stays out of reprs; the runner redacts them from details and logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from monitor.clock import Clock
from monitor.live.conversation import Trace
from monitor.live.phase import Phase

__all__ = ["Credential", "CredentialFailed", "CredentialSource", "StaticKey"]


@dataclass(frozen=True, slots=True)
class Credential:
    """What one session sends: the AuthKind value, the secret, and extra headers (x-goog-user-project)."""

    auth: str
    value: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)


class CredentialFailed(Exception):  # noqa: N818 - names an event, like the LiveErrors
    """No credential for the session. `status`: the token service's HTTP status, None if none answered."""

    def __init__(
        self, phase: Phase, detail: str, *, status: int | None = None, timed_out: bool = False
    ) -> None:
        super().__init__(detail)
        self.phase = phase
        self.status = status
        self.timed_out = timed_out


class CredentialSource(Protocol):
    """Hands out a credential per session; shared by every job of one endpoint."""

    async def credential(self, http: aiohttp.ClientSession, clock: Clock, trace: Trace) -> Credential:
        """The credential for the next session; raises CredentialFailed. May mark `trace` (token_start)."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this source holds now (keys, refresh tokens, tokens), for redaction."""
        ...


@dataclass(frozen=True, slots=True)
class StaticKey:
    """The configured API key as it is (header or query), or a fixed token."""

    auth: str
    key: str = field(repr=False)

    async def credential(self, http: aiohttp.ClientSession, clock: Clock, trace: Trace) -> Credential:
        return Credential(self.auth, self.key)

    def secrets(self) -> tuple[str, ...]:
        return (self.key,) if self.key else ()
