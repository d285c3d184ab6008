"""Realtime input gathered into turns, as the service's activity handling does it.

Manual activity (`automaticActivityDetection.disabled`): everything between `activityStart` and
`activityEnd` is the turn, answered after `activityEnd`. Automatic detection (the default): the voice
activity detector (`vad.py`) hears speech start and trailing silence end the utterance while frames keep
coming; `audioStreamEnd` ends one in progress. Text outside an activity is a turn of its own.

Every edge is reported with its offset in the input audio stream (`voiceActivity.audioOffset`). The audio of
the turn is kept (bounded) so that the transcript can be what was said where the emulator knows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from monitor.emulator.audio_input import VAD_RATE, InputFormat, Resampler, parse_input_mime
from monitor.emulator.conversation import Turn, TurnKind
from monitor.emulator.transcripts import input_transcript
from monitor.emulator.vad import Edge, VadSettings, VoiceDetector

__all__ = ["OPAQUE_END_OF_SPEECH", "Activity", "Utterances"]

# Compressed audio cannot be heard: under automatic detection its utterance ends on audioStreamEnd or when
# chunks stop arriving for this long.
OPAQUE_END_OF_SPEECH: Final = 0.8
# A turn's audio is kept up to 2 minutes of 16 kHz s16le; past that the transcript is the canned one.
_MAX_KEPT_BYTES: Final = 120 * VAD_RATE * 2
_PREROLL_BYTES: Final = VAD_RATE * 2 // 2  # half a second kept before speech starts
_MAX_TEXTS: Final = 1000  # realtimeInput.text pieces kept inside one activity


@dataclass(frozen=True, slots=True)
class Activity:
    """What an input caused, in order: utterance edges and completed turns (a long chunk may hold several)."""

    events: tuple[Edge | Turn, ...] = ()
    starts_activity: bool = False  # the input itself is user activity (it may interrupt an answer)

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(event for event in self.events if isinstance(event, Edge))

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(event for event in self.events if isinstance(event, Turn))


class _Kept:
    """The 16 kHz s16le audio of the turn so far, bounded."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.overflow = False
        self.seconds = 0.0

    def add(self, pcm: bytes, seconds: float) -> None:
        self.seconds += seconds
        if not self.overflow:
            if len(self.data) + len(pcm) > _MAX_KEPT_BYTES:
                self.overflow, self.data = True, bytearray()
            else:
                self.data += pcm

    def trim_to_preroll(self) -> None:
        if len(self.data) > _PREROLL_BYTES:
            del self.data[: len(self.data) - _PREROLL_BYTES]
        self.seconds = 0.0

    def transcript(self, opaque: bool) -> str:
        return input_transcript(None if self.overflow or opaque else bytes(self.data))


class Utterances:
    """One session's realtime input, turned into utterance edges and turns (see the module docstring)."""

    def __init__(self, *, manual: bool, settings: VadSettings) -> None:
        self.manual = manual
        self.detector = VoiceDetector(settings)
        self.in_activity = False  # manual: between activityStart and activityEnd
        self.stream_seconds = 0.0  # input audio received so far (the audioOffset clock)
        self._format: InputFormat | None = None
        self._resampler: Resampler | None = None
        self._kept = _Kept()
        self._texts: list[str] = []
        self._heard_audio = False  # manual: the activity has audio; automatic: an opaque utterance is open
        self._opaque = False  # the turn's audio is compressed (cannot be heard)
        self._utterance_start = 0.0  # automatic: offset of the open utterance's start

    @property
    def opaque_open(self) -> bool:
        """An automatic-detection utterance on compressed audio is open (it ends on a gap in the chunks)."""
        return not self.manual and self._opaque and self._heard_audio

    def activity_start(self) -> Activity:
        if not self.manual:
            return (
                Activity()
            )  # not allowed with automatic detection; the service's answer is unknown: ignored
        self.in_activity, self._heard_audio, self._opaque = True, False, False
        self._texts, self._kept = [], _Kept()
        return Activity(starts_activity=True)

    def activity_end(self) -> Activity:
        if not (self.manual and self.in_activity):
            return Activity()
        self.in_activity = False
        if self._heard_audio:
            edge = Edge("ACTIVITY_END", self.stream_seconds)
            return Activity(events=(edge, self._audio_turn(self._kept.seconds)))
        text = " ".join(self._texts)
        self._texts = []
        return Activity(events=(Turn(TurnKind.TEXT, text),) if text else ())

    def text(self, text: str) -> Activity:
        if self.manual and self.in_activity:
            if len(self._texts) < _MAX_TEXTS:
                self._texts.append(text)
            return Activity()
        return Activity(events=(Turn(TurnKind.TEXT, text),), starts_activity=True)

    def audio(self, blob: dict[str, Any]) -> Activity:
        """One `realtimeInput.audio` (normalised: `data` decoded); UnsupportedAudioError if refused."""
        audio_format = parse_input_mime(blob.get("mimeType"))
        data = blob.get("data") or b""
        if audio_format != self._format:
            self._format = audio_format
            self._resampler = Resampler(audio_format.rate) if audio_format.pcm else None
        seconds = len(data) / audio_format.bytes_per_second if audio_format.pcm else 0.0
        start = self.stream_seconds
        self.stream_seconds += seconds
        if self.manual:
            if not self.in_activity:
                return Activity()  # audio outside an activity is not part of any turn
            self._opaque = self._opaque or not audio_format.pcm
            self._kept.add(self._to_16k(data), seconds)
            if self._heard_audio:
                return Activity()
            self._heard_audio = True
            return Activity(events=(Edge("ACTIVITY_START", start),))
        if not audio_format.pcm:
            self._opaque = True
            if self._heard_audio:
                return Activity()
            self._heard_audio = True
            return Activity(events=(Edge("ACTIVITY_START", start),), starts_activity=True)
        pcm = self._to_16k(data)
        self._kept.add(pcm, seconds)
        edges = self.detector.feed(np.frombuffer(pcm, dtype="<i2").astype(np.float64))
        events: list[Edge | Turn] = []
        for edge in edges:
            events.append(edge)
            if edge.type == "ACTIVITY_START":
                self._utterance_start = edge.offset
            else:
                events.append(self._audio_turn(edge.offset - self._utterance_start))
        if not edges and not self.detector.speaking:
            self._kept.trim_to_preroll()
        return Activity(events=tuple(events))

    def stream_end(self) -> Activity:
        """`audioStreamEnd` (automatic detection), or a gap in compressed audio: the open utterance ends."""
        if self.manual:
            return Activity()
        if self.opaque_open:
            self._heard_audio = False
            edge = Edge("ACTIVITY_END", self.stream_seconds)
            return Activity(events=(edge, self._audio_turn(0.0)))
        ended = self.detector.end_of_stream()
        if ended is None:
            return Activity()
        return Activity(events=(ended, self._audio_turn(ended.offset - self._utterance_start)))

    def _to_16k(self, data: bytes) -> bytes:
        if self._resampler is None:
            return b""
        samples = self._resampler.feed(data)
        if self._resampler.rate != VAD_RATE:
            samples = np.clip(np.rint(samples), -32768, 32767)
        return samples.astype("<i2").tobytes()

    def _audio_turn(self, seconds: float) -> Turn:
        kept, self._kept = self._kept, _Kept()
        texts, self._texts = self._texts, []
        opaque, self._opaque = self._opaque, False
        self._heard_audio = False
        return Turn(TurnKind.AUDIO, " ".join(texts), max(0.0, seconds), kept.transcript(opaque))
