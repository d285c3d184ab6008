"""Probe-outcome series in promtool's input notation: the shared encoder of the rule tests and the benchmarks.

A probe stream is one Bernoulli trial (a turn) every 30 s per model, as the daemon runs a text and an audio
turn a minute. `turn_counters` turns a list of per-turn failures into the two counters Prometheus would scrape
(`outcome="ok"` and `outcome="server_close",code="1011"`), sampled at a scrape interval; `encode` writes a
value list in promtool's expanding notation (`a+bxn`), so a day of samples stays a short line.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "TURN_SECONDS",
    "encode",
    "failed_series",
    "info_series",
    "ok_series",
    "turn_counters",
    "up_series",
]

TURN_SECONDS = 30

_COMMON = 'endpoint="gemini-api",instance="localhost:9478",job="gemini-live-monitor",probe="text"'


def ok_series(model: str, vantage: str = "a") -> str:
    return (
        f'gemini_live_probe_turns_total{{{_COMMON},model="{model}",vantage="{vantage}",'
        'outcome="ok",cause="none",code="",phase=""}'
    )


def failed_series(
    model: str,
    vantage: str = "a",
    *,
    outcome: str = "server_close",
    cause: str = "internal",
    code: str = "1011",
) -> str:
    phase = "connect" if outcome == "handshake_rejected" else "first_response"
    return (
        f'gemini_live_probe_turns_total{{{_COMMON},model="{model}",vantage="{vantage}",'
        f'outcome="{outcome}",cause="{cause}",code="{code}",phase="{phase}"}}'
    )


def info_series(model: str, family: str, *, alias: bool, vantage: str = "a") -> str:
    return (
        'gemini_live_model_info{instance="localhost:9478",job="gemini-live-monitor",'
        f'model="{model}",family="{family}",alias="{str(alias).lower()}",vantage="{vantage}"}}'
    )


def up_series(vantage: str = "a") -> str:
    return f'up{{instance="localhost:9478",job="gemini-live-monitor",vantage="{vantage}"}}'


def turn_counters(failures: Sequence[bool], *, scrape_seconds: int) -> tuple[list[int], list[int]]:
    """(ok, failed) counter samples at every scrape; turn i completes at (i + 1) * 30 s, sample 0 is t = 0."""
    if TURN_SECONDS % scrape_seconds:
        raise ValueError(f"scrape_seconds={scrape_seconds}: must divide the {TURN_SECONDS} s turn period")
    per_turn = TURN_SECONDS // scrape_seconds
    ok, failed = [0], [0]
    for turn_failed in failures:
        last_ok, last_failed = ok[-1], failed[-1]
        step = [last_ok, last_failed]
        step[1 if turn_failed else 0] += 1
        ok.extend([last_ok] * (per_turn - 1) + [step[0]])
        failed.extend([last_failed] * (per_turn - 1) + [step[1]])
    return ok, failed


def encode(values: Sequence[float]) -> str:
    """promtool notation for a sample list: runs with a constant step become `start+stepxN`."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i + 1
        if j < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            count = j - i
        else:
            step, count = 0, 0
        start = _num(values[i])
        if count == 0:
            parts.append(start)
        elif step == 0:
            parts.append(f"{start}x{count}")
        else:
            parts.append(f"{start}{'+' if step > 0 else '-'}{_num(abs(step))}x{count}")
        i += count + 1
    return " ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
