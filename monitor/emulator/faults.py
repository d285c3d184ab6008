"""Fault injection: which faults a connection drew, and one function per fault kind that strikes.

Faults are drawn once per connection from the scenario (probability in the active time window, seeded RNG):
upgrade faults when the request arrives, the others when setup names the model. A strike function returns
True when it ended the session (close, drop, hang), False when the conversation goes on.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from aiohttp import web

from monitor.emulator.reasons import REASONS
from monitor.emulator.scenarios import Fault, FaultKind, Location, Scenario
from monitor.emulator.wire import ServerWire

if TYPE_CHECKING:
    from monitor.emulator.state import EmulatorState

__all__ = [
    "STRIKES",
    "ConnectionFaults",
    "Strike",
    "draw_faults",
    "draw_request_faults",
    "http_status_response",
]

# Pause and then issue a fresh resumption handle: what `handle_before` sends before striking.
HandleIssuer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Strike:
    """What a strike function may use besides its fault."""

    wire: ServerWire
    rng: random.Random
    latency_scale: float
    issue_handle: HandleIssuer
    tasks: set[asyncio.Task[None]]  # background work (the goAway abort), cancelled with the connection


StrikeFn = Callable[[Fault, Strike], Awaitable[bool]]
_IDLE = frozenset({Location.BEFORE_SETUP_COMPLETE, Location.AFTER_SETUP_COMPLETE})


def draw_request_faults(state: EmulatorState, location: Location) -> list[Fault]:
    """The faults one HTTP request at `location` suffers (the upgrade, the token service, the OAuth endpoint):
    neither a model nor a session is known yet."""
    return draw_faults(
        (f for f in state.scenario.faults if f.location is location),
        rng=state.rng,
        elapsed=state.elapsed(),
        now=state.clock.now(),
        onset=state.onset,
        model=None,
        resumed=False,
    )


def draw_faults(
    faults: Iterable[Fault],
    *,
    rng: random.Random,
    elapsed: float,
    now: datetime,
    onset: float,
    model: str | None,
    resumed: bool,
) -> list[Fault]:
    """The faults this connection suffers; one RNG draw per candidate, in scenario order (reproducible)."""
    drawn = []
    for fault in faults:
        if model is not None and fault.models and model not in fault.models:
            continue
        if fault.sessions != "any" and (fault.sessions == "resumed") != resumed:
            continue
        probability = fault.probability_at(elapsed, now, onset)
        if probability > 0 and rng.random() < probability:
            drawn.append(fault)
    return drawn


@dataclass(slots=True)
class ConnectionFaults:
    faults: list[Fault] = field(default_factory=list)

    def at(self, location: Location) -> list[Fault]:
        return [f for f in self.faults if f.location is location]

    def has(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self.faults if f.kind is kind), None)

    def mid_stream(self, chunks_sent: int) -> list[Fault]:
        return [f for f in self.at(Location.MID_STREAM) if f.after_chunks == chunks_sent]

    async def strike(self, location: Location, context: Strike, faults: list[Fault] | None = None) -> bool:
        """Run every fault drawn for this location; True when one of them ended the session."""
        for fault in self.at(location) if faults is None else faults:
            strike = STRIKES.get(fault.kind)
            if strike is not None and await strike(fault, context):
                return True
        return False


async def _wait(fault: Fault, context: Strike) -> None:
    low, high = fault.delay_ms
    if high > 0 and context.latency_scale > 0:
        await asyncio.sleep(context.rng.uniform(low, high) * context.latency_scale / 1000)
    if fault.handle_before and fault.location in _IDLE:
        # While the model generates the service is not resumable: the session issued this fault's handle
        # right after setupComplete instead (see session.py).
        await context.issue_handle()


async def _close(fault: Fault, context: Strike) -> bool:
    await _wait(fault, context)
    assert fault.code is not None  # checked when the scenario loaded
    await context.wire.close(fault.code, fault.reason_text)
    return True


async def _hang(fault: Fault, context: Strike) -> bool:
    await _wait(fault, context)
    await context.wire.hang()
    return True


async def _tcp_drop(fault: Fault, context: Strike) -> bool:
    await _wait(fault, context)
    context.wire.drop()
    return True


# Truncated JSON: what a proxy cutting a frame short would deliver.
MALFORMED_FRAME = b'{\n  "serverContent": {\n    "modelTurn": {\n      "parts": [\n        {"inlineData": '


async def _malformed_frame(fault: Fault, context: Strike) -> bool:
    await _wait(fault, context)
    await context.wire.send_raw(MALFORMED_FRAME)
    return False


async def _goaway(fault: Fault, context: Strike) -> bool:
    await _wait(fault, context)
    await send_goaway(context.wire, fault.time_left_s, context.tasks)
    return False


async def send_goaway(wire: ServerWire, time_left: float, tasks: set[asyncio.Task[None]]) -> None:
    """goAway with `timeLeft`, then the 1008 abort if the client is still connected when it runs out."""
    await wire.send({"goAway": {"timeLeft": _duration(time_left)}})

    async def abort() -> None:
        await asyncio.sleep(time_left)
        await wire.close(1008, REASONS["goaway_abort"])

    task = asyncio.create_task(abort())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _duration(seconds: float) -> str:
    """A protobuf Duration in JSON: "50s", "1.5s"."""
    return f"{seconds:g}s"


STRIKES: dict[FaultKind, StrikeFn] = {
    FaultKind.CLOSE: _close,
    FaultKind.HANG: _hang,
    FaultKind.TCP_DROP: _tcp_drop,
    FaultKind.MALFORMED_FRAME: _malformed_frame,
    FaultKind.GOAWAY: _goaway,
}

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def http_status_response(fault: Fault) -> web.Response:
    """The upgrade refused with an HTTP status and Google's JSON error body (or the scenario's body)."""
    status = fault.status or 500
    if fault.body is not None:
        return web.Response(status=status, text=fault.body, content_type="application/json")
    message = REASONS["quota"] if status == 429 else HTTPStatus(status).phrase
    body = {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}
    return web.Response(status=status, text=json.dumps(body, indent=2), content_type="application/json")


def scenario_upgrade_faults(scenario: Scenario) -> list[Fault]:
    return [f for f in scenario.faults if f.location is Location.UPGRADE]
