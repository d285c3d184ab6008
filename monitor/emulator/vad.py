"""Automatic activity detection: an energy-based voice activity detector over the 16 kHz input stream.

What the service documents (`AutomaticActivityDetection` in the Live API reference and google-genai's
`types.py`): speech starts an utterance once `prefixPaddingMs` of it has been detected; `silenceDurationMs` of
non-speech ends it; `startOfSpeechSensitivity` / `endOfSpeechSensitivity` (HIGH or LOW; unspecified means HIGH
on the Gemini API, LOW on Vertex AI) make the start and the end more or less likely. The service publishes
no numbers for its detector nor defaults for the two durations; the emulator's are inferences chosen so that
a spoken sentence with ordinary pauses is one utterance and a continuous microphone's silence ends it (see
docs/emulator.md).

The detector works on 10 ms frames of RMS energy in dBFS. A frame is speech when it is at least the start
threshold; inside an utterance a frame is non-speech when it is under the end threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from monitor.emulator.audio_input import VAD_RATE

__all__ = ["DEFAULT_PREFIX_PADDING_MS", "DEFAULT_SILENCE_DURATION_MS", "Edge", "VadSettings", "VoiceDetector"]

FRAME_SAMPLES: Final = VAD_RATE // 100  # 10 ms
DEFAULT_PREFIX_PADDING_MS: Final = 20
DEFAULT_SILENCE_DURATION_MS: Final = 500
# dBFS thresholds (start above end, so noise between them cannot flap). Speech from a microphone sits around
# -35..-10 dBFS, room noise under -50, digital silence at -inf. HIGH start sensitivity starts on quieter
# sound; HIGH end sensitivity ends on louder pauses.
_START_DB: Final = {"START_SENSITIVITY_HIGH": -42.0, "START_SENSITIVITY_LOW": -32.0}
_END_DB: Final = {"END_SENSITIVITY_HIGH": -45.0, "END_SENSITIVITY_LOW": -55.0}


@dataclass(frozen=True, slots=True)
class VadSettings:
    prefix_padding_ms: int = DEFAULT_PREFIX_PADDING_MS
    silence_duration_ms: int = DEFAULT_SILENCE_DURATION_MS
    start_db: float = _START_DB["START_SENSITIVITY_HIGH"]
    end_db: float = _END_DB["END_SENSITIVITY_HIGH"]

    @classmethod
    def from_setup(cls, detection: dict[str, Any], *, vertex: bool = False) -> VadSettings:
        """From `realtimeInputConfig.automaticActivityDetection` (normalised: camelCase, enums by name).
        Unspecified sensitivities are HIGH on the Gemini API and LOW on Vertex AI (google-genai's
        `StartSensitivity`/`EndSensitivity` docstrings)."""
        default = "LOW" if vertex else "HIGH"
        return cls(
            prefix_padding_ms=_milliseconds(detection.get("prefixPaddingMs"), DEFAULT_PREFIX_PADDING_MS),
            silence_duration_ms=_milliseconds(
                detection.get("silenceDurationMs"), DEFAULT_SILENCE_DURATION_MS
            ),
            start_db=_START_DB.get(
                str(detection.get("startOfSpeechSensitivity")), _START_DB[f"START_SENSITIVITY_{default}"]
            ),
            end_db=_END_DB.get(
                str(detection.get("endOfSpeechSensitivity")), _END_DB[f"END_SENSITIVITY_{default}"]
            ),
        )


def _milliseconds(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = int(value)  # int32 fields arrive as numbers or (proto3 JSON allows) strings
    except ValueError:
        return default
    return number if number >= 0 else default


@dataclass(frozen=True, slots=True)
class Edge:
    """An utterance edge: "ACTIVITY_START" or "ACTIVITY_END", at `offset` seconds of the input stream."""

    type: str
    offset: float


class VoiceDetector:
    """Feed 16 kHz samples as they arrive; each call returns the edges they complete, in order."""

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self._pending = np.empty(0)
        self._frames = 0  # frames analysed since the stream began
        self.speaking = False
        self._run = 0  # consecutive speech frames (outside) or non-speech frames (inside an utterance)
        self._prefix_frames = max(1, math.ceil(settings.prefix_padding_ms / 10))
        self._silence_frames = max(1, math.ceil(settings.silence_duration_ms / 10))

    @property
    def position(self) -> float:
        """Seconds of input audio analysed so far."""
        return self._frames / 100

    def feed(self, samples: npt.NDArray[np.float64]) -> list[Edge]:
        data = np.concatenate((self._pending, samples)) if self._pending.size else samples
        whole = data.size - data.size % FRAME_SAMPLES
        self._pending = data[whole:]
        if whole == 0:
            return []
        frames = data[:whole].reshape(-1, FRAME_SAMPLES)
        rms = np.sqrt(np.mean(np.square(frames), axis=1))
        decibels = 20 * np.log10(np.maximum(rms, 1e-9) / 32768.0)
        edges: list[Edge] = []
        for level in decibels:
            self._frames += 1
            edge = self._step(float(level))
            if edge is not None:
                edges.append(edge)
        return edges

    def _step(self, level: float) -> Edge | None:
        if not self.speaking:
            self._run = self._run + 1 if level >= self.settings.start_db else 0
            if self._run >= self._prefix_frames:
                self.speaking, self._run = True, 0
                return Edge("ACTIVITY_START", (self._frames - self._prefix_frames) / 100)
            return None
        self._run = self._run + 1 if level < self.settings.end_db else 0
        if self._run >= self._silence_frames:
            self.speaking, self._run = False, 0
            return Edge("ACTIVITY_END", (self._frames - self._silence_frames) / 100)
        return None

    def end_of_stream(self) -> Edge | None:
        """`audioStreamEnd`: an utterance in progress ends where the audio stopped."""
        if not self.speaking:
            self._run = 0
            return None
        self.speaking, self._run = False, 0
        return Edge("ACTIVITY_END", self.position)
