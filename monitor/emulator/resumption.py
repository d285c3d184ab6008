"""Session resumption handles: issued per logical session, accepted for 2 hours after it last ended.

Facts (the Live API session-management guide; aicc2025/sip-to-ai#14): a handle is valid 2 h after the
last session terminates; resuming while an earlier socket of the same session is open is rejected with 1011.
What an unknown or expired handle gets is not reported anywhere: the emulator answers 1008 "Requested
entity was not found.", the service's NOT_FOUND wording, and documents it as an inference.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from monitor.clock import Clock
from monitor.emulator.reasons import REASONS

__all__ = ["HANDLE_TTL_SECONDS", "Handles", "Rejection"]

HANDLE_TTL_SECONDS = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class Rejection:
    code: int
    reason: str


@dataclass(slots=True)
class _Session:
    model: str
    open_connections: int = 0
    ended_at: float | None = None


@dataclass(slots=True)
class Handles:
    clock: Clock
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _handles: dict[str, str] = field(default_factory=dict)  # handle -> session key

    def begin(self, model: str) -> str:
        key = secrets.token_hex(8)
        self._sessions[key] = _Session(model=model, open_connections=1)
        return key

    def issue(self, session_key: str) -> str:
        handle = secrets.token_urlsafe(24)
        self._handles[handle] = session_key
        return handle

    def resume(self, handle: str, model: str) -> str | Rejection:
        """The session key the handle continues (and the connection now holds), or why it is refused."""
        key = self._handles.get(handle)
        session = self._sessions.get(key) if key else None
        if key is None or session is None:
            return Rejection(1008, REASONS["entity_not_found"])
        if session.open_connections > 0:
            return Rejection(1011, REASONS["internal"])
        ended = session.ended_at if session.ended_at is not None else self.clock.monotonic()
        if self.clock.monotonic() - ended > HANDLE_TTL_SECONDS:
            return Rejection(1008, REASONS["entity_not_found"])
        if session.model != model:
            return Rejection(1007, REASONS["invalid_argument"])
        session.open_connections += 1
        session.ended_at = None
        return key

    def end(self, session_key: str) -> None:
        session = self._sessions.get(session_key)
        if session is not None:
            session.open_connections = max(0, session.open_connections - 1)
            if session.open_connections == 0:
                session.ended_at = self.clock.monotonic()
