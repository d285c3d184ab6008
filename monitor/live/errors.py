"""The typed failures of one Live session; `probe/classify.py` turns each into an outcome and a cause.

    LiveError
    ├── ConnectFailed      DNS, TCP or TLS failed before the upgrade
    ├── HandshakeRejected  the upgrade was answered with an HTTP status instead of 101
    ├── ServerClosed       a close frame arrived from the server (code, reason)
    ├── ConnectionLost     the socket died without a close frame (`keepalive`: our own ping went unanswered)
    ├── ClientClosed       we closed the socket ourselves (goAway deadline); never a server close
    ├── PhaseTimeout       a phase budget of ours ran out
    └── ProtocolError      an unparseable, unknown or out-of-order server frame

Messages never carry the request URL or headers: they may hold the API key.
"""

# ruff: noqa: N818 - these name events (a server closed), not errors of the caller

from __future__ import annotations

__all__ = [
    "ClientClosed",
    "ConnectFailed",
    "ConnectionLost",
    "HandshakeRejected",
    "LiveError",
    "PhaseTimeout",
    "ProtocolError",
    "ServerClosed",
]


class LiveError(Exception):
    """Base of every failure the session reports on purpose."""


class ConnectFailed(LiveError):
    pass


class HandshakeRejected(LiveError):
    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"upgrade rejected with HTTP {status}" + (f": {detail}" if detail else ""))
        self.status = status


class ServerClosed(LiveError):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"server closed the session: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ConnectionLost(LiveError):
    def __init__(self, detail: str, *, keepalive: bool = False) -> None:
        super().__init__(detail)
        self.keepalive = keepalive


class ClientClosed(LiveError):
    def __init__(self, code: int, detail: str, *, goaway: bool = False) -> None:
        super().__init__(detail)
        self.code = code
        self.goaway = goaway


class PhaseTimeout(LiveError):
    def __init__(self, budget: str, seconds: float) -> None:
        super().__init__(f"no answer within the {budget} budget of {seconds:g} s")
        self.budget = budget
        self.seconds = seconds


class ProtocolError(LiveError):
    pass
