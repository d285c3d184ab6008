"""The input transcript: the probe's own spoken prompt is heard as the text it was made from, anything else
as the canned sentence, streamed in pieces that join to the whole."""

from __future__ import annotations

import shlex
from pathlib import Path

from monitor.emulator.transcripts import (
    CANNED_TRANSCRIPT,
    PROMPT_TRANSCRIPT,
    input_transcript,
    input_transcript_pieces,
)
from monitor.probe.audio import prompt_chunks, prompt_pcm

MAKE_PROMPT = Path(__file__).resolve().parents[3] / "scripts" / "make-prompt.sh"


def test_the_known_text_is_what_make_prompt_speaks() -> None:
    """If scripts/make-prompt.sh changes its sentence, the emulator's transcript must follow."""
    line = next(line for line in MAKE_PROMPT.read_text().splitlines() if line.startswith("espeak-ng"))
    assert shlex.split(line)[-1] == PROMPT_TRANSCRIPT


def test_the_probe_prompt_as_the_probe_sends_it_is_recognised() -> None:
    """The probe's 100 ms chunks (the last padded with silence), with silence around them."""
    audio = bytes(3200) + b"".join(prompt_chunks()) + bytes(6400)
    assert input_transcript(audio) == PROMPT_TRANSCRIPT


def test_other_audio_is_heard_as_the_canned_sentence() -> None:
    assert input_transcript(bytes(32_000)) == CANNED_TRANSCRIPT
    assert input_transcript(prompt_pcm()[: len(prompt_pcm()) // 2]) == CANNED_TRANSCRIPT, "half the prompt"
    assert input_transcript(None) == CANNED_TRANSCRIPT


def test_pieces_join_to_the_text() -> None:
    pieces = input_transcript_pieces(PROMPT_TRANSCRIPT)
    assert len(pieces) > 2
    assert "".join(pieces) == PROMPT_TRANSCRIPT
    assert input_transcript_pieces("Hi") == ["Hi"]
