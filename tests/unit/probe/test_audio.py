"""The shipped spoken prompt and the checks on returned audio."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.live.messages import AudioChunk, parse_server_frame
from monitor.probe.audio import (
    CHUNK_BYTES,
    SILENCE_RMS,
    _squares,
    check_audio,
    prompt_chunks,
    prompt_pcm,
)
from tests.unit.live.scripted_server import speech

PCM24 = "audio/pcm;rate=24000"


def test_prompt_is_a_few_seconds_of_real_speech() -> None:
    """16 kHz s16le mono, 2-8 s long, clearly above the silence threshold (it is speech, not a tone)."""
    samples = np.frombuffer(prompt_pcm(), dtype="<i2")
    seconds = samples.size / 16_000
    assert 2.0 <= seconds <= 8.0
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 10 * SILENCE_RMS


def test_prompt_chunks_are_100ms() -> None:
    chunks = prompt_chunks()
    assert CHUNK_BYTES == 3200
    assert all(len(chunk) == 3200 for chunk in chunks)
    assert b"".join(chunks).startswith(prompt_pcm())


def test_partial_last_chunk_is_padded_with_silence() -> None:
    assert prompt_chunks(b"\x01\x00" * 1700) == [b"\x01\x00" * 1600, b"\x01\x00" * 100 + b"\x00" * 3000]


def _received(mime_type: str, data: str) -> AudioChunk:
    """The chunk the probe holds once it has parsed a frame carrying `data` (base64 text)."""
    blob = {"mimeType": mime_type, "data": data}
    content = parse_server_frame(
        json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
    ).content
    assert content is not None
    return content.audio[0]


def _pcm(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


@pytest.mark.parametrize(
    ("chunks", "problem"),
    [
        pytest.param([_received(PCM24, speech(0.5))], "", id="speech"),
        pytest.param([_received("audio/pcm", speech(0.5))], "", id="bare-pcm-is-24k"),
        pytest.param([_received(PCM24, speech(0.2))] * 3, "", id="several-chunks"),
        pytest.param([_received(PCM24, speech(0.1))], "under the", id="too-short"),
        pytest.param([_received(PCM24, _pcm(np.zeros(24_000)))], "silent", id="digital-silence"),
        pytest.param(
            [_received(PCM24, _pcm(np.random.default_rng(1).integers(-20, 20, 24_000)))],
            "silent",
            id="dither",
        ),
        pytest.param([_received("audio/pcm;rate=16000", speech(0.5))], "mimeType", id="wrong-rate"),
        pytest.param([_received("audio/mp3", speech(0.5))], "mimeType", id="wrong-type"),
        pytest.param(
            [_received(PCM24, base64.b64encode(b"\x01\x02\x03").decode())], "odd byte", id="odd-bytes"
        ),
        pytest.param([_received(PCM24, "not base64!")], "not base64", id="bad-base64"),
        pytest.param([], "under the", id="no-audio"),
    ],
)
def test_check_audio(chunks: list[AudioChunk], problem: str) -> None:
    result = check_audio(chunks)
    assert (problem in result.problem) if problem else result.problem == ""


def test_duration_is_measured_at_24_khz() -> None:
    assert check_audio([_received(PCM24, speech(0.5))] * 2).seconds == pytest.approx(1.0)


def test_audio_counted_past_the_kept_sample_adds_to_the_duration() -> None:
    """0.5 s kept plus 1 s of dropped bytes is 1.5 s; the RMS is the kept sample's."""
    result = check_audio([_received(PCM24, speech(0.5))], dropped_bytes=48_000)
    assert result.seconds == pytest.approx(1.5)
    assert result.problem == ""


def test_a_wrong_rate_among_the_dropped_chunks_fails_the_check() -> None:
    """MIME types of audio beyond the sample are checked too."""
    result = check_audio(
        [_received(PCM24, speech(0.5))], dropped_bytes=2, dropped_mimes=["audio/pcm;rate=8000"]
    )
    assert "past limits.audio_bytes" in result.problem


@pytest.mark.parametrize(
    "mime", ["audio/pcm;rate=" + "9" * 5000, "audio/pcm;rate=x", "audio/pcm;rate=2400000000"]
)
def test_a_rate_that_is_no_number_fails_without_raising(mime: str) -> None:
    """A 5000-digit, non-numeric or 10-digit rate fails the check with a short message, never raises (built
    directly: the parser already refuses a MIME type that long, the check must not rely on it)."""
    result = check_audio([AudioChunk(mime, base64.b64decode(speech(0.5)))])
    assert "expected 24 kHz PCM" in result.problem
    assert len(result.problem) < 120


def test_the_rms_of_a_full_scale_buffer_is_exact() -> None:
    """Full-scale samples square past int32 and are summed exactly in int64 blocks (RMS 32767)."""
    samples = np.full(200_000, 32_767, dtype=np.int16)
    assert check_audio([_received(PCM24, _pcm(samples))]).rms == pytest.approx(32_767.0)


@settings(max_examples=60, deadline=None)
@given(
    size=st.sampled_from([0, 1, 2, 65_535, 65_536, 65_537, 200_001]),
    fill=st.sampled_from(["random", "min", "max"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_sum_of_squares_is_exact_across_blocks(size: int, fill: str, seed: int) -> None:
    """Equal to the integer sum, at and around block edges, for random and both full-scale extremes (-32768
    squares to 2**30): no block overflows or loses a unit."""
    rng = np.random.default_rng(seed)
    if fill == "random":
        samples = rng.integers(-32_768, 32_768, size=size, dtype=np.int16)
    else:
        samples = np.full(size, -32_768 if fill == "min" else 32_767, dtype=np.int16)
    exact = int(np.sum(samples.astype(object) ** 2)) if size else 0
    assert _squares(samples.astype("<i2").tobytes()) == exact


def test_the_rms_spans_every_chunk() -> None:
    """A loud chunk after a silent one: the RMS is over the whole of the kept audio, not per chunk."""
    quiet = np.zeros(12_000, dtype=np.int16)
    loud = np.full(12_000, 1_000, dtype=np.int16)
    result = check_audio([_received(PCM24, _pcm(quiet)), _received(PCM24, _pcm(loud))])
    assert result.seconds == pytest.approx(1.0)
    assert result.rms == pytest.approx(1_000 / np.sqrt(2))
