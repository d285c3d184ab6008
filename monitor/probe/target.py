"""ProbeTarget: everything one probe run needs to know about where and how to probe.

Built by `settings.py` for the daemon and by the `probe` command for one-shot runs; the probe never reads
configuration files or the environment itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from monitor.probe.credentials import CredentialSource

__all__ = ["AuthKind", "PhaseBudgets", "ProbeTarget", "TextPath"]


class AuthKind(StrEnum):
    """How the session authenticates (docs/configuration.md, "Authentication")."""

    HEADER = (
        "header"  # API key in x-goog-api-key, as the Python SDK sends it; the default (Vertex express too)
    )
    QUERY = "query"  # API key in ?key=, what the raw-WebSocket samples do
    # An ephemeral auth_tokens/... minted per session, as "Authorization: Token", on ...Constrained
    TOKEN = "token"  # noqa: S105 - a kind, not a secret
    BEARER = "bearer"  # Google OAuth access token (Vertex AI), refreshed from google-auth credentials


class TextPath(StrEnum):
    """How a text turn is sent; a per-model setting because some models reject mid-session clientContent."""

    CLIENT_CONTENT = "client_content"
    REALTIME_INPUT = "realtime_input"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseBudgets:
    """Per-phase time budgets in seconds; running out of one is a `timeout` outcome in that phase."""

    # Getting the session's credential before connect (the mint's or the OAuth refresh's own deadline); 0 for
    # a static key. Counted in `total`, so a slow token service never makes the scheduler call a probe hung.
    credentials: float = 0.0
    connect: float = 10.0
    setup: float = 10.0
    first_response: float = 15.0
    turn: float = 30.0  # turn sent to turnComplete, including streaming

    @property
    def total(self) -> float:
        return self.credentials + self.connect + self.setup + self.turn


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTarget:
    endpoint: str  # the endpoint's label value, e.g. "gemini-api"
    url: str  # the full ws(s) URL of the BidiGenerateContent method, without credentials
    model: str  # the bare model id, e.g. "gemini-2.5-flash-native-audio-latest"
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    auth: AuthKind = AuthKind.HEADER
    text_path: TextPath = TextPath.CLIENT_CONTENT
    # A user-supplied setup payload (inner object of {"setup": ...}); None: the default production payload.
    setup: Mapping[str, Any] | None = None
    vantage: str = "local"
    budgets: PhaseBudgets = field(default_factory=PhaseBudgets)
    pace_audio: bool = True  # send 100 ms audio chunks in real time, as a microphone would
    # Client WebSocket ping interval; None (default) sends no pings: slow pongs under load made short
    # ping timeouts kill healthy sessions ("sent 1011 keepalive ping timeout", incident row 14).
    keepalive_seconds: float | None = None
    recover: bool = True  # after a failed turn, try once to recover and record it
    # Where each session's credential comes from; None: `api_key` as it is, sent the `auth` way.
    credentials: CredentialSource | None = field(default=None, compare=False)
    # Prepended to `model` in setup.model: Vertex AI's "projects/P/locations/L/publishers/google/models/".
    model_prefix: str = ""
