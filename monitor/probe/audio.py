"""Probe audio: the shipped spoken prompt, its 100 ms input chunks, and the checks on the returned audio.

Input: 16 kHz, 16-bit signed little-endian, mono (`prompts/question.wav`, made by `scripts/make-prompt.sh`).
Output: the Live API answers with 24 kHz s16le mono PCM (`audio/pcm;rate=24000`); a bare `audio/pcm` is taken
at the documented 24 kHz. The checks run after the turn, never on the timed path.
"""

from __future__ import annotations

import base64
import binascii
import re
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

import numpy as np

from monitor.live.messages import AudioChunk

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_SECONDS",
    "MIN_AUDIO_SECONDS",
    "OUTPUT_RATE",
    "SILENCE_RMS",
    "AudioCheck",
    "check_audio",
    "prompt_chunks",
    "prompt_pcm",
]

INPUT_RATE: Final = 16_000
OUTPUT_RATE: Final = 24_000
CHUNK_SECONDS: Final = 0.1
CHUNK_BYTES: Final = int(INPUT_RATE * CHUNK_SECONDS) * 2  # 3200: 100 ms of s16le mono
MIN_AUDIO_SECONDS: Final = 0.3  # shorter than any spoken sentence
# RMS in int16 units; about -50 dBFS. Speech sits far above it, digital silence and dither far below.
SILENCE_RMS: Final = 100.0
PROMPT_FILE: Final = "question.wav"
_RATE = re.compile(r"rate=(\d+)")


@cache
def prompt_pcm() -> bytes:
    """The shipped spoken prompt as raw 16 kHz s16le mono PCM; ValueError if the file is not that."""
    with (
        resources.files("monitor.probe").joinpath("prompts").joinpath(PROMPT_FILE).open("rb") as handle,
        wave.open(handle, "rb") as wav,
    ):
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if shape != (INPUT_RATE, 1, 2):
            raise ValueError(f"{PROMPT_FILE}: expected 16000 Hz mono 16-bit, got {shape}")
        return wav.readframes(wav.getnframes())


def prompt_chunks(pcm: bytes | None = None) -> list[bytes]:
    """100 ms chunks (3200 bytes); the last one is padded with silence to a whole chunk."""
    data = prompt_pcm() if pcm is None else pcm
    remainder = len(data) % CHUNK_BYTES
    if remainder:
        data += b"\x00" * (CHUNK_BYTES - remainder)
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


@dataclass(frozen=True, slots=True)
class AudioCheck:
    seconds: float
    rms: float
    problem: str  # empty when the audio passed


def check_audio(chunks: Sequence[AudioChunk]) -> AudioCheck:
    """Decode and check the returned audio: 24 kHz, whole samples, long enough, not silent."""
    pieces: list[bytes] = []
    for index, chunk in enumerate(chunks):
        rate = _RATE.search(chunk.mime_type)
        if not chunk.mime_type.startswith("audio/pcm") or (rate and int(rate.group(1)) != OUTPUT_RATE):
            return AudioCheck(0.0, 0.0, f"chunk {index}: mimeType {chunk.mime_type!r}, expected 24 kHz PCM")
        try:
            piece = base64.b64decode(chunk.data, validate=True)
        except (binascii.Error, ValueError):
            return AudioCheck(0.0, 0.0, f"chunk {index}: data is not base64")
        if len(piece) % 2:
            return AudioCheck(0.0, 0.0, f"chunk {index}: odd byte count {len(piece)} for 16-bit samples")
        pieces.append(piece)
    samples = np.frombuffer(b"".join(pieces), dtype="<i2")
    seconds = samples.size / OUTPUT_RATE
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    if seconds < MIN_AUDIO_SECONDS:
        problem = f"audio lasts {seconds:.3f} s, under the {MIN_AUDIO_SECONDS} s minimum"
        return AudioCheck(seconds, rms, problem)
    if rms < SILENCE_RMS:
        return AudioCheck(seconds, rms, f"audio is silent (RMS {rms:.1f} < {SILENCE_RMS})")
    return AudioCheck(seconds, rms, "")
