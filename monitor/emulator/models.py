"""The per-model capability table: what each emulated model accepts and how fast it answers.

Facts from docs/protocol.md sections 2.2, 3.2, 6 and 7. Scenarios may override any flag per model
(`models:` in a scenario file), e.g. to reproduce the 1008 on function calls reported for -preview-12-2025.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.emulator.paths import Api

__all__ = ["MODELS", "Latency", "ModelCapabilities", "lookup_model"]

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
    latency: Latency = field(default_factory=Latency)


_NATIVE_AUDIO = Latency(setup_complete=(200.0, 400.0), first_response=(400.0, 900.0))
_LIVE_3 = Latency(setup_complete=(180.0, 320.0), first_response=(250.0, 600.0))

MODELS: dict[str, ModelCapabilities] = {
    m.name: m
    for m in (
        ModelCapabilities(name="gemini-2.5-flash-native-audio-latest", alias=True, latency=_NATIVE_AUDIO),
        ModelCapabilities(name="gemini-2.5-flash-native-audio-preview-12-2025", latency=_NATIVE_AUDIO),
        ModelCapabilities(name="gemini-2.5-flash-native-audio-preview-09-2025", latency=_NATIVE_AUDIO),
        # At launch (Mar 2026) 3.1 refused mid-session clientContent with 1007 (docs/protocol.md 2.2).
        ModelCapabilities(
            name="gemini-3.1-flash-live-preview", client_content=False, voice_activity=True, latency=_LIVE_3
        ),
        ModelCapabilities(
            name="gemini-3.8-live",
            apis=frozenset({Api.GEMINI, Api.VERTEX}),
            voice_activity=True,
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
