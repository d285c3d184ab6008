"""What each probe kind sends: the turn plans for text, audio and tool probes and for the recovery turn.

The text turn goes through `clientContent` or `realtimeInput.text` per target (some models reject mid-session
clientContent). With automatic activity detection disabled (the default payload), "the client must send
activity signals" (API reference, AutomaticActivityDetection), so realtime text and audio are bracketed by
activityStart/activityEnd.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from monitor.live import messages as wire
from monitor.live.conversation import TurnPlan
from monitor.probe.audio import CHUNK_SECONDS, prompt_chunks
from monitor.probe.outcome import ProbeKind
from monitor.probe.target import ProbeTarget, TextPath

__all__ = ["RECOVERY_PROMPT", "TEXT_PROMPT", "TOOL_PROMPT", "recovery_plan", "turn_plan", "wants"]

TEXT_PROMPT: Final = "What is the capital of France? Answer in one short sentence."
TOOL_PROMPT: Final = (
    f"Call the {wire.PROBE_TOOL_NAME} function now, then tell me in one short sentence what it returned."
)
RECOVERY_PROMPT: Final = "Say OK."
TOOL_RESULT: Final[Mapping[str, Any]] = {"status": "ok", "detail": "the probe is healthy"}


def turn_plan(kind: ProbeKind, target: ProbeTarget) -> TurnPlan:
    """The messages of one probe turn of this kind."""
    if kind is ProbeKind.AUDIO:
        chunks = [wire.audio_chunk(chunk) for chunk in prompt_chunks()]
        return TurnPlan(
            messages=(wire.activity_start(), *chunks, wire.activity_end()),
            pace_seconds=CHUNK_SECONDS if target.pace_audio else 0.0,
            tool_result=TOOL_RESULT,
        )
    prompt = TOOL_PROMPT if kind is ProbeKind.TOOL else TEXT_PROMPT
    return TurnPlan(messages=_text_messages(prompt, target), tool_result=TOOL_RESULT)


def recovery_plan(target: ProbeTarget) -> TurnPlan:
    """The one short text turn of a recovery attempt."""
    return TurnPlan(messages=_text_messages(RECOVERY_PROMPT, target), tool_result=TOOL_RESULT)


def wants(target: ProbeTarget, field: str) -> bool:
    """Whether the setup payload sent to this target enables `field` (camelCase; snake_case accepted)."""
    setup = target.setup if target.setup is not None else wire.default_setup_view()
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in field)
    return field in setup or snake in setup


def _text_messages(prompt: str, target: ProbeTarget) -> tuple[Mapping[str, Any], ...]:
    if target.text_path is TextPath.CLIENT_CONTENT:
        return (wire.client_content_text(prompt),)
    if _manual_activity(target):
        return (wire.activity_start(), wire.realtime_text(prompt), wire.activity_end())
    return (wire.realtime_text(prompt),)


def _manual_activity(target: ProbeTarget) -> bool:
    setup = target.setup if target.setup is not None else wire.default_setup_view()
    config = setup.get("realtimeInputConfig", setup.get("realtime_input_config")) or {}
    detection = config.get("automaticActivityDetection", config.get("automatic_activity_detection")) or {}
    return bool(detection.get("disabled"))
