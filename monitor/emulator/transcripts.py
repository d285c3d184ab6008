"""What the emulated model heard: the input transcript of an audio turn, streamed in pieces.

The emulator has no speech recogniser. It knows one recording: the probe's spoken prompt
(`monitor/probe/prompts/question.wav`, made by `scripts/make-prompt.sh` from the text below). When a turn's
16 kHz audio contains that recording sample for sample, the transcript is its text; anything else is heard
as a canned sentence. The real service streams `inputTranscription` as interim pieces before the last one.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from monitor.emulator.audio import transcript_pieces
from monitor.probe.audio import prompt_pcm

__all__ = ["CANNED_TRANSCRIPT", "PROMPT_TRANSCRIPT", "input_transcript", "input_transcript_pieces"]

# The text scripts/make-prompt.sh speaks (tests check the two agree).
PROMPT_TRANSCRIPT: Final = "What is the capital of France? Answer in one sentence."
CANNED_TRANSCRIPT: Final = "Hello, can you hear me?"
_WORDS_PER_PIECE: Final = 3


@cache
def _known_recordings() -> tuple[tuple[bytes, str], ...]:
    """(PCM without its trailing silence, text) of each recording the emulator can recognise."""
    pcm = prompt_pcm()
    end = len(pcm.rstrip(b"\x00"))
    return ((pcm[: end + end % 2], PROMPT_TRANSCRIPT),)


def input_transcript(pcm: bytes | None) -> str:
    """The words of a turn's 16 kHz s16le audio (None: the audio was not kept or not PCM)."""
    if pcm:
        for recording, text in _known_recordings():
            if recording and recording in pcm:
                return text
    return CANNED_TRANSCRIPT


def input_transcript_pieces(text: str) -> list[str]:
    """The transcript as streamed: pieces of a few words, in order, joining to the text."""
    count = max(1, -(-len(text.split(" ")) // _WORDS_PER_PIECE))
    return transcript_pieces(text, count)
