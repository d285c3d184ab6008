"""The one recovery attempt after a failed turn: resume with the newest handle if one came, else start fresh.

Incident 000's client "recovered by single retry with sessionResumption.handle"; incident 001's plugin
reconnects with resumption. The attempt runs one short text turn and is recorded in `recovery`; it never
turns the failed turn into a success. Failures raise as in any conversation; `runner.py` classifies them.
"""

from __future__ import annotations

import aiohttp

from monitor.clock import Clock
from monitor.live.conversation import Endpoint, Trace, converse
from monitor.probe.plans import recovery_plan
from monitor.probe.record import RecoveryKind
from monitor.probe.target import ProbeTarget

__all__ = ["recovery_kind", "run_recovery"]


def recovery_kind(handle: str) -> RecoveryKind:
    return RecoveryKind.RESUMED if handle else RecoveryKind.FRESH


async def run_recovery(
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    target: ProbeTarget,
    *,
    clock: Clock,
    handle: str,
    trace: Trace,
) -> bool:
    """Run the recovery turn; True when it completed with audio or a transcript."""
    plan = recovery_plan(target)
    await converse(
        http,
        endpoint,
        plan,
        budgets=target.budgets,
        limits=target.limits,
        clock=clock,
        trace=trace,
        handle=handle,
    )
    return bool(trace.audio or "".join(trace.transcript).strip() or "".join(trace.text).strip())
