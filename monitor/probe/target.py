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

__all__ = ["AuthKind", "PhaseBudgets", "ProbeLimits", "ProbeTarget", "TextPath"]


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
class ProbeLimits:
    """Hard bounds on what one probe turn keeps of what a server sends (docs/probe.md, "Limits").

    A server that misbehaves is what the monitor exists to catch, so none of its input may grow memory, time
    or records without bound. Past `frame_bytes`, `json_depth` or `integer_digits` the turn ends as
    `protocol_error` with a detail naming the limit; audio and messages beyond their bounds are counted, not
    kept; `close_seconds` caps our close handshake (aiohttp's `ws.close()` otherwise reads until the
    server's close frame, however long the server keeps sending).
    """

    # Decoded audio kept per turn for the checks (2 MiB: 43 s of 24 kHz s16le; a 30 s turn holds 1.44 MB).
    audio_bytes: int = 2 * 1024 * 1024
    # Server messages recorded per turn: the first N and the last N, with a count of those dropped between.
    messages_kept: int = 100
    # One WebSocket frame, enforced by aiohttp while it reads the frame (its default, 4 MiB).
    frame_bytes: int = 4 * 1024 * 1024
    # JSON nesting depth of a frame (a real one is about 6 deep: serverContent.modelTurn.parts[].inlineData).
    json_depth: int = 64
    # Digits of a JSON integer (18 always fits a signed 64-bit column or counter).
    integer_digits: int = 18
    # The JSON record of one turn, a backstop: past it the message list is cut further.
    record_bytes: int = 64 * 1024
    # Our close handshake: past it the socket is dropped.
    close_seconds: float = 2.0


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
    # ping timeouts kill healthy sessions ("sent 1011 keepalive ping timeout", docs/protocol.md 6, row 14).
    keepalive_seconds: float | None = None
    recover: bool = True  # after a failed turn, try once to recover and record it
    # Where each session's credential comes from; None: `api_key` as it is, sent the `auth` way.
    credentials: CredentialSource | None = field(default=None, compare=False)
    # Prepended to `model` in setup.model: Vertex AI's "projects/P/locations/L/publishers/google/models/".
    model_prefix: str = ""
    limits: ProbeLimits = field(default_factory=ProbeLimits)
