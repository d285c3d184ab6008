"""One-shot reproduction (`live-monitor probe`): build a target from command-line values, run N probes in a
row, and summarise them as incident 000's results table (Model | N | OK | 1011 | each other failure class).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.live.messages import model_resource
from monitor.live.session import http_client
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.probe.runner import run_probe
from monitor.probe.target import AuthKind, ProbeTarget, TextPath
from monitor.text import header_value_problem

__all__ = [
    "EMULATOR_URL",
    "GEMINI_V1BETA_URL",
    "TargetError",
    "build_target",
    "endpoint_label",
    "failure_class",
    "format_table",
    "key_hint",
    "load_setup",
    "run_probes",
]

GEMINI_V1BETA_URL: Final = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)


# What `live-monitor emulator` serves by default (127.0.0.1:8765, the v1beta Gemini API method).
EMULATOR_URL: Final = (
    "ws://127.0.0.1:8765/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)


class TargetError(ValueError):
    """Bad command-line input; the message names the option and the rule."""


def load_setup(path: str) -> dict[str, Any]:
    """A user's setup payload: a JSON object, either the inner object or `{"setup": {...}}`."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TargetError(f"--setup {path}: cannot read the file ({exc.strerror})") from None
    except ValueError as exc:
        raise TargetError(f"--setup {path}: not valid JSON ({exc})") from None
    if isinstance(payload, dict) and set(payload) == {"setup"}:
        payload = payload["setup"]
    if not isinstance(payload, dict):
        raise TargetError(f"--setup {path}: must hold a JSON object (the setup message or its inner object)")
    return payload


def _emulator_command(model: str, url: str | None = None) -> str:
    return f"GEMINI_API_KEY=anything live-monitor probe --model {model} --url {url or EMULATOR_URL}"


def key_hint(url: str | None, key: str, model: str) -> str | None:
    """A warning for a session about to carry no credential (a non-Google --url and no GEMINI_API_KEY).

    The emulator answers such a session as the real service does, with close 1008 (cause `auth`), which is
    right but looks like a fault of the emulator; the hint names the command that works.
    """
    if key or url is None:
        return None
    return (
        "GEMINI_API_KEY is not set, so the session carries no credential and is closed 1008 (auth), by the "
        "emulator as by the real service; the emulator accepts any non-empty key: "
        + _emulator_command(model, url)
    )


def endpoint_label(url: str) -> str:
    """The `endpoint` label value: which API the URL's path belongs to."""
    if "LlmBidiService" in url:
        return "vertex"
    return "gemini-api"


def build_target(
    *,
    model: str,
    url: str | None,
    key: str,
    auth: str = AuthKind.HEADER.value,
    text_path: str = TextPath.CLIENT_CONTENT.value,
    setup: Mapping[str, Any] | None = None,
    pace_audio: bool = True,
) -> ProbeTarget:
    """A validated target; TargetError naming the option for anything the probe could not use."""
    url = url or GEMINI_V1BETA_URL
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise TargetError(f"--url {url!r}: must be a ws:// or wss:// URL of the BidiGenerateContent method")
    if parts.query:
        raise TargetError("--url: must not carry a query; credentials come from GEMINI_API_KEY and --auth")
    problem = header_value_problem(key, "GEMINI_API_KEY")
    if problem is not None:  # else aiohttp refuses it at the upgrade, which would read as connect_error
        raise TargetError(problem)
    if not key and parts.hostname and parts.hostname.endswith("googleapis.com"):
        raise TargetError(
            "GEMINI_API_KEY is not set: the real Live API needs an API key. The emulator needs one too (any "
            "non-empty value): " + _emulator_command(model)
        )
    try:
        model_resource(model, url)
    except ValueError as exc:
        raise TargetError(f"--{exc}") from None
    return ProbeTarget(
        endpoint=endpoint_label(url),
        url=url,
        model=model,
        api_key=SecretStr(key),
        auth=AuthKind(auth),
        text_path=TextPath(text_path),
        setup=setup,
        pace_audio=pace_audio,
    )


async def run_probes(
    target: ProbeTarget,
    kind: ProbeKind,
    count: int,
    *,
    clock: Clock = SYSTEM_CLOCK,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Run `count` probes one after another (one session at a time, as a low quota tier needs)."""
    results: list[ProbeResult] = []
    async with http_client() as http:
        for _ in range(count):
            result = await run_probe(target, kind, http=http, clock=clock)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def failure_class(result: ProbeResult) -> str:
    """A failure's column in the table, e.g. `server_close 1008 model_not_found`, `timeout first_response`."""
    words = [result.outcome.value]
    if result.code is not None:
        words.append(str(result.code))
    if result.outcome is Outcome.TIMEOUT:
        words.append(result.phase.value)
    if result.cause.value not in ("none", "deadline"):
        words.append(result.cause.value)
    return " ".join(words)


def _is_1011(result: ProbeResult) -> bool:
    return result.outcome is Outcome.SERVER_CLOSE and result.code == 1011


def format_table(results: Sequence[ProbeResult]) -> str:
    """Incident 000's results table, one row per model, plus a line on recoveries."""
    models = list(dict.fromkeys(r.model for r in results))
    others = sorted({failure_class(r) for r in results if not r.ok and not _is_1011(r)})
    header = ["Model", "N", "OK", "1011", *others]
    rows = [header, ["---"] * len(header)]
    for model in models:
        mine = [r for r in results if r.model == model]
        n = len(mine)
        classes = Counter(failure_class(r) for r in mine if not r.ok and not _is_1011(r))
        rows.append(
            [
                model,
                str(n),
                f"{sum(r.ok for r in mine)}/{n}",
                f"{sum(_is_1011(r) for r in mine)}/{n}",
                *(f"{classes[c]}/{n}" for c in others),
            ]
        )
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    recoveries = _recovery_summary(results)
    if recoveries:
        lines.append("")
        lines.append(f"Recovery after a failed turn: {recoveries}")
    return "\n".join(lines)


def _recovery_summary(results: Iterable[ProbeResult]) -> str:
    counts = Counter(
        f"{r.recovery.kind.value} {r.recovery.outcome.value}" for r in results if r.recovery is not None
    )
    return ", ".join(f"{label} {count}" for label, count in sorted(counts.items()))
