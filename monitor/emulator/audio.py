"""The audio the emulated model speaks: a committed espeak-ng reply at 24 kHz s16le mono, cut into chunks.

`data/reply-24k-s16le.pcm` was made once with
`espeak-ng -v en-us -s 170 -w reply.wav "Sure. The line is clear."` and
`sox reply.wav -r 24000 -c 1 -b 16 -e signed-integer -L -t raw reply-24k-s16le.pcm`.
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources

__all__ = [
    "OUTPUT_MIME_TYPE",
    "OUTPUT_RATE",
    "REPLY_TRANSCRIPT",
    "chunk_audio",
    "reply_audio",
    "silence_like",
    "transcript_pieces",
]

OUTPUT_RATE = 24_000
OUTPUT_MIME_TYPE = "audio/pcm;rate=24000"
REPLY_TRANSCRIPT = "Sure. The line is clear."
_BYTES_PER_MS = OUTPUT_RATE * 2 // 1000  # 48 bytes of s16le mono per millisecond
_CHUNK_MS = (40, 240)  # chunk sizes seen on the real service (40 ms and 160-240 ms are quoted in reports)


@cache
def reply_audio() -> bytes:
    return resources.files("monitor.emulator").joinpath("data/reply-24k-s16le.pcm").read_bytes()


def silence_like(audio: bytes) -> bytes:
    return bytes(len(audio))


def chunk_audio(audio: bytes, rng: random.Random) -> list[bytes]:
    """Cut into 40-240 ms chunks on sample boundaries; the last chunk may be shorter."""
    chunks: list[bytes] = []
    offset = 0
    while offset < len(audio):
        size = rng.randint(*_CHUNK_MS) * _BYTES_PER_MS
        chunks.append(audio[offset : offset + size])
        offset += size
    return chunks


def transcript_pieces(text: str, count: int) -> list[str]:
    """Split the transcript into at most `count` non-empty pieces on word boundaries (as streamed)."""
    words = text.split(" ")
    count = max(1, min(count, len(words)))
    per_piece = -(-len(words) // count)
    pieces = [" ".join(words[i : i + per_piece]) for i in range(0, len(words), per_piece)]
    return [piece if index == 0 else " " + piece for index, piece in enumerate(pieces)]
