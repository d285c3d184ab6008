"""The per-model capability table: what each emulated model accepts and how fast it answers, and the
per-model setup rules the service enforces.

Sources: Google's model pages (ai.google.dev/gemini-api/docs/models/gemini-3.8-live and
.../gemini-3.1-flash-live-preview, including the 3.8 "Migrating from Gemini 3.1 Flash Live" notes), the
deprecations page, and failures reported against the real service (docs/emulator.md lists them). Scenarios
may override any flag per model (`models:` in a scenario file), e.g. to reproduce the 1008 on function calls
reported for -preview-12-2025 or 3.1's launch-era refusal of mid-session clientContent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.emulator.paths import Api
from monitor.emulator.reasons import unknown_field

__all__ = ["MODELS", "Latency", "ModelCapabilities", "lookup_model", "setup_refusal"]

Range = tuple[float, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Milliseconds, drawn uniformly from each range and multiplied by the emulator's latency scale."""

    setup_complete: Range = (200.0, 400.0)
    first_response: Range = (300.0, 700.0)
    chunk_gap: Range = (20.0, 80.0)
    tool_call: Range = (150.0, 400.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCapabilities:
    name: str
    apis: frozenset[Api] = frozenset({Api.GEMINI})
    text_modality: bool = False  # every current Live model is AUDIO-out only
    client_content: bool = True  # mid-session clientContent turns
    function_calling: bool = True
    voice_activity: bool = False  # sends voiceActivity ACTIVITY_START/END (3.x)
    alias: bool = False  # a moving alias such as -latest
    thinking_config: bool = True  # False: a setup with generationConfig.thinkingConfig is refused (1007)
    proactive_audio_always: bool = False  # True: proactivity.proactiveAudio false is refused (1007)
    affective_dialog: bool = True  # False: generationConfig.enableAffectiveDialog is not a field (1007)
    default_function_behavior: str = "BLOCKING"  # for declarations without `behavior`
    latency: Latency = field(default_factory=Latency)


_NATIVE_AUDIO = Latency(setup_complete=(200.0, 400.0), first_response=(400.0, 900.0))
_LIVE_3 = Latency(setup_complete=(180.0, 320.0), first_response=(250.0, 600.0))

MODELS: dict[str, ModelCapabilities] = {
    m.name: m
    for m in (
        ModelCapabilities(name="gemini-2.5-flash-native-audio-latest", alias=True, latency=_NATIVE_AUDIO),
        ModelCapabilities(name="gemini-2.5-flash-native-audio-preview-12-2025", latency=_NATIVE_AUDIO),
        ModelCapabilities(name="gemini-2.5-flash-native-audio-preview-09-2025", latency=_NATIVE_AUDIO),
        # Today's 3.1 page: clientContent for the whole session. At launch (Mar 2026) it refused mid-session
        # clientContent with 1007: the `client-content-rejected` scenario keeps that behaviour.
        ModelCapabilities(name="gemini-3.1-flash-live-preview", voice_activity=True, latency=_LIVE_3),
        # GA since September 2026; its migration notes: no thinking_config, proactive audio always on
        # (`proactive_audio: false` returns an error), affective dialog removed, NON_BLOCKING the default.
        ModelCapabilities(
            name="gemini-3.8-live",
            apis=frozenset({Api.GEMINI, Api.VERTEX}),
            voice_activity=True,
            thinking_config=False,
            proactive_audio_always=True,
            affective_dialog=False,
            default_function_behavior="NON_BLOCKING",
            latency=_LIVE_3,
        ),
        ModelCapabilities(
            name="gemini-live-2.5-flash-native-audio", apis=frozenset({Api.VERTEX}), latency=_NATIVE_AUDIO
        ),
    )
}


def lookup_model(
    resource: str, api: Api, table: dict[str, ModelCapabilities] | None = None
) -> tuple[str, ModelCapabilities | None]:
    """The bare model id of a setup.model value and its capabilities on this API (None: not served)."""
    models = MODELS if table is None else table
    bare = resource.rsplit("/", 1)[-1]
    found = models.get(bare)
    if found is None or api not in found.apis:
        return bare, None
    return bare, found


def setup_refusal(setup: dict[str, Any], caps: ModelCapabilities, model: str) -> str | None:
    """The 1007 reason the service gives a setup (normalised: camelCase) this model refuses, or None.

    The service's wording for these is not published; the reasons name the field (an inference), except
    that a field removed from the API reads as the parser's unknown-field error.
    """
    generation = setup.get("generationConfig") or {}
    if not caps.thinking_config and "thinkingConfig" in generation:
        return f"setup.generation_config.thinking_config is not supported by models/{model}."
    if not caps.affective_dialog and "enableAffectiveDialog" in generation:
        return unknown_field("enableAffectiveDialog", "setup.generation_config")
    proactivity = setup.get("proactivity") or {}
    if caps.proactive_audio_always and proactivity.get("proactiveAudio") is False:
        return f"setup.proactivity.proactive_audio cannot be false: it is always on for models/{model}."
    return None
