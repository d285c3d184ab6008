"""What a user's microphone sends: a second of the probe's spoken prompt, then silence that keeps coming.

Live microphones never stop: LiveKit and Pipecat stream 20-100 ms frames continuously, silence included, so a
turn ends only when the server's activity detection hears the trailing silence. The speech is the first
second of `monitor/probe/prompts/question.wav` (real espeak-ng speech, 16 kHz s16le mono).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import numpy as np

from monitor.probe.audio import prompt_pcm

RATE: Final = 16_000
SPEECH_SECONDS: Final = 1.0
MIC_LIMIT_SECONDS: Final = 15.0  # a microphone left open this long means the answer never came


def speech(rate: int = RATE, seconds: float = SPEECH_SECONDS) -> bytes:
    """The first `seconds` of the spoken prompt at `rate` (linear resampling, as a telephony leg would)."""
    pcm = np.frombuffer(prompt_pcm()[: int(RATE * seconds) * 2], dtype="<i2").astype(np.float64)
    if rate != RATE:
        positions = np.arange(int(len(pcm) * rate / RATE)) * (RATE / rate)
        pcm = np.interp(positions, np.arange(len(pcm)), pcm)
    return pcm.astype("<i2").tobytes()


def chunks(pcm: bytes, chunk_bytes: int) -> list[bytes]:
    return [pcm[i : i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]


async def microphone(
    send: Callable[[bytes], Awaitable[None] | None],
    done: asyncio.Event,
    *,
    rate: int = RATE,
    frame_ms: int = 20,
) -> int:
    """Speech, then silence frames until `done` is set, paced in real time; returns the frames sent."""
    frame_bytes = rate * frame_ms // 1000 * 2
    frames = chunks(speech(rate), frame_bytes)
    silence = bytes(frame_bytes)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while not done.is_set():
        if sent * frame_ms / 1000 > MIC_LIMIT_SECONDS:
            raise TimeoutError(f"no answer after {MIC_LIMIT_SECONDS:g} s of microphone audio")
        frame = frames[sent] if sent < len(frames) else silence
        result = send(frame)
        if result is not None:
            await result
        sent += 1
        # Real time, measured from the start: a late wake-up catches up instead of drifting.
        await asyncio.sleep(max(0.0, start + sent * frame_ms / 1000 - loop.time()))
    return sent
