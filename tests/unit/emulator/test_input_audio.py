"""Input audio as the service reads it: base64 in both alphabets, MIME types and rates, resampling, and the
1007 reasons for what it refuses (over a real socket where it is about the wire)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from monitor.emulator import RunningEmulator
from monitor.emulator.audio_input import Resampler, UnsupportedAudioError, parse_input_mime
from monitor.emulator.proto3 import decode_base64
from monitor.emulator.schema import ClientMessageError, normalise
from tests.integration.emulator.wsclient import connect, setup

PCM = bytes(range(256)) * 3  # every byte value, so both alphabets' special characters occur


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda data: base64.b64encode(data).rstrip(b"="),
        lambda data: base64.urlsafe_b64encode(data).rstrip(b"="),
    ],
    ids=["standard", "url-safe", "standard-unpadded", "url-safe-unpadded"],
)
@pytest.mark.parametrize("size", [1, 2, 3, 320, 3200, 767])
def test_base64_alphabets_padded_or_not(encode: object, size: int) -> None:
    """proto3 JSON bytes: standard or URL-safe alphabet, with or without padding, decode to the same bytes."""
    data = PCM[:size]
    text = encode(data).decode()  # type: ignore[operator]
    assert decode_base64(text) == data


@pytest.mark.parametrize("text", ["A", "AB=C", "AAAA=", "AA===", "not base64!", "AA AA", "ÄÄÄÄ"])
def test_malformed_base64_is_refused(text: str) -> None:
    assert decode_base64(text) is None


def test_wrong_base64_reason_names_the_field() -> None:
    """The reason is the parser's TYPE_BYTES wording with the proto path of the field."""
    with pytest.raises(ClientMessageError) as caught:
        normalise({"realtime_input": {"audio": {"mime_type": "audio/pcm;rate=16000", "data": "@@@@"}}})
    assert caught.value.reason == (
        "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), Base64 decoding failed for \"@@@@\""
    )


def test_non_string_bytes_value_is_refused() -> None:
    with pytest.raises(ClientMessageError, match=r"\(TYPE_BYTES\)"):
        normalise({"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": 12}}})


async def test_wrong_base64_closes_1007_over_the_socket(emulator: RunningEmulator) -> None:
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "%%%="}}})
        seen = await client.until_end()
    assert seen.close_code == 1007
    assert seen.close_reason.startswith("Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), Base64")


@pytest.mark.parametrize(
    ("mime_type", "rate", "pcm"),
    [
        ("audio/pcm;rate=16000", 16000, True),
        ("audio/pcm; rate=8000", 8000, True),
        ("AUDIO/PCM;RATE=24000", 24000, True),
        ("audio/pcm", 16000, True),
        ("audio/pcm;rate=44100;channels=1", 44100, True),
        ("audio/ogg", 16000, False),
        ("audio/webm;codecs=opus", 16000, False),
    ],
)
def test_accepted_mime_types(mime_type: str, rate: int, pcm: bool) -> None:
    declared = parse_input_mime(mime_type)
    assert (declared.rate, declared.pcm) == (rate, pcm)


@pytest.mark.parametrize(
    ("mime_type", "words"),
    [
        ("audio/x-nonsense", "unsupported MIME type"),
        ("text/plain", "unsupported MIME type"),
        ("audio/pcm;rate=0", "unsupported sample rate"),
        ("audio/pcm;rate=abc", "unsupported sample rate"),
        ("audio/pcm;rate=1000000000", "unsupported sample rate"),
        ("", "a MIME type is required"),
        (None, "a MIME type is required"),
    ],
)
def test_refused_mime_types_name_the_field(mime_type: str | None, words: str) -> None:
    with pytest.raises(UnsupportedAudioError) as caught:
        parse_input_mime(mime_type)
    assert caught.value.reason.startswith("Invalid value at 'realtime_input.audio.mime_type': ")
    assert words in caught.value.reason


@pytest.mark.parametrize("mime_type", ["audio/x-nonsense", "audio/pcm;rate=0"])
async def test_refused_mime_type_closes_1007_over_the_socket(
    emulator: RunningEmulator, mime_type: str
) -> None:
    data = base64.b64encode(bytes(320)).decode()
    async with connect(emulator.url) as client:
        await client.send(setup())
        await client.receive()
        await client.send({"realtimeInput": {"audio": {"mimeType": mime_type, "data": data}}})
        seen = await client.until_end()
    assert seen.close_code == 1007
    assert seen.close_reason.startswith("Invalid value at 'realtime_input.audio.mime_type'")


@pytest.mark.parametrize("rate", [8000, 11025, 24000, 44100, 48000])
def test_resampling_keeps_duration_and_pitch(rate: int) -> None:
    """One second of a 440 Hz tone at any rate, fed in 20 ms chunks, is one second of 440 Hz at 16 kHz."""
    tone = (np.sin(np.arange(rate) * 2 * np.pi * 440 / rate) * 8000).astype("<i2").tobytes()
    resampler = Resampler(rate)
    chunk = rate // 50 * 2
    out = np.concatenate([resampler.feed(tone[i : i + chunk]) for i in range(0, len(tone), chunk)])
    assert abs(out.size - 16_000) <= 2
    spectrum = np.abs(np.fft.rfft(out[:16_000]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 2
    assert np.max(np.abs(np.diff(out))) < 8000 * 2 * np.pi * 440 / 16_000 * 1.1, "no seams at chunk edges"


def test_sixteen_khz_passes_through_sample_for_sample() -> None:
    pcm = (np.arange(-500, 500) * 30).astype("<i2").tobytes()
    resampler = Resampler(16_000)
    out = np.concatenate([resampler.feed(pcm[:301]), resampler.feed(pcm[301:])])  # an odd split
    assert out.astype("<i2").tobytes() == pcm
