"""Probe audio: the shipped spoken prompt, its 100 ms input chunks, and the checks on the returned audio.

Input: 16 kHz, 16-bit signed little-endian, mono (`prompts/question.wav`, made by `scripts/make-prompt.sh`).
Output: the Live API answers with 24 kHz s16le mono PCM (`audio/pcm;rate=24000`); a bare `audio/pcm` is taken
at the documented 24 kHz. The checks run after the turn, never on the timed path, on the bounded sample the
conversation kept (`ProbeLimits.audio_bytes`); audio counted beyond it adds to the duration and has its MIME
types checked. The RMS is summed exactly in int64 blocks (see `_squares`): no float64 copy of the whole
buffer is ever made.
"""

from __future__ import annotations

import math
import re
import wave
from collections.abc import Iterable, Sequence
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
# A sample rate of more than 9 digits is no rate at all (and int() of 5000 digits raises): it never matches.
_RATE = re.compile(r"rate=(\d{1,9})(?!\d)")
_ANY_RATE = re.compile(r"rate=")
# Samples squared per step: 512 KiB of int64 at a time, however long the kept reply.
_RMS_BLOCK = 65_536


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


def _wrong_mime(mime_type: str) -> bool:
    if not mime_type.startswith("audio/pcm"):
        return True
    rate = _RATE.search(mime_type)
    if rate is None:
        return _ANY_RATE.search(mime_type) is not None  # a rate that is not a number of at most 9 digits
    return int(rate.group(1)) != OUTPUT_RATE


def _mime_problem(label: str, mime_type: str) -> AudioCheck:
    return AudioCheck(0.0, 0.0, f"{label}: mimeType {mime_type[:60]!r}, expected 24 kHz PCM")


def check_audio(
    chunks: Sequence[AudioChunk], *, dropped_bytes: int = 0, dropped_mimes: Iterable[str] = ()
) -> AudioCheck:
    """Check the returned audio (decoded as its frames were parsed): 24 kHz, whole samples, long, not silent.

    `chunks` is the kept sample; `dropped_bytes` (decoded length) and `dropped_mimes` describe the audio that
    was counted beyond it.
    """
    for mime_type in sorted(dropped_mimes):
        if _wrong_mime(mime_type):
            return _mime_problem("audio past limits.audio_bytes", mime_type)
    pieces: list[bytes] = []
    checked = None  # the MIME type last found right: a reply's chunks nearly all carry the same one
    for index, chunk in enumerate(chunks):
        if chunk.mime_type != checked:
            if _wrong_mime(chunk.mime_type):
                return _mime_problem(f"chunk {index}", chunk.mime_type)
            checked = chunk.mime_type
        piece = chunk.pcm
        if piece is None:
            return AudioCheck(0.0, 0.0, f"chunk {index}: data is not base64")
        if len(piece) % 2:
            return AudioCheck(0.0, 0.0, f"chunk {index}: odd byte count {len(piece)} for 16-bit samples")
        pieces.append(piece)
    pcm = b"".join(pieces)
    samples = len(pcm) // 2
    seconds = (samples + dropped_bytes // 2) / OUTPUT_RATE
    rms = math.sqrt(_squares(pcm) / samples) if samples else 0.0
    if seconds < MIN_AUDIO_SECONDS:
        problem = f"audio lasts {seconds:.3f} s, under the {MIN_AUDIO_SECONDS} s minimum"
        return AudioCheck(seconds, rms, problem)
    if rms < SILENCE_RMS:
        return AudioCheck(seconds, rms, f"audio is silent (RMS {rms:.1f} < {SILENCE_RMS})")
    return AudioCheck(seconds, rms, "")


def _squares(pcm: bytes) -> int:
    """The exact sum of the squared s16le samples in `pcm`, block by block (no whole-buffer copy).

    Not float64: its dot product goes to BLAS, whose worker threads spin after every call (OpenBLAS: 2.3 ms
    of CPU for a 2 s reply, against 0.09 ms with one thread), which doubled the probe's CPU per turn. numpy's
    integer arithmetic is its own loop, on the calling thread."""
    samples = np.frombuffer(pcm, dtype="<i2")
    total = 0
    for start in range(0, samples.size, _RMS_BLOCK):
        # A square of an int16 fits int32 (at most 2**30), and a block's sum int64: squared in place in
        # int32, summed in int64, a fifth faster than an int64 dot product.
        block = samples[start : start + _RMS_BLOCK].astype(np.int32)
        np.square(block, out=block)
        total += int(block.sum(dtype=np.int64))
    return total
