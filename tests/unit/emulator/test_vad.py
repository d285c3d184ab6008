"""The voice activity detector: speech starts an utterance after prefixPaddingMs, silenceDurationMs of
trailing silence ends it, the sensitivities move the thresholds, the probe's own prompt is one utterance."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.emulator.vad import (
    DEFAULT_PREFIX_PADDING_MS,
    DEFAULT_SILENCE_DURATION_MS,
    Edge,
    VadSettings,
    VoiceDetector,
)
from monitor.probe.audio import prompt_pcm

RATE = 16_000


def _tone(seconds: float, dbfs: float = -15.0) -> np.ndarray:
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)  # a sine's RMS is amplitude / sqrt(2)
    return np.sin(np.arange(int(RATE * seconds)) * 2 * np.pi * 200 / RATE) * amplitude


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(RATE * seconds))


def _feed(detector: VoiceDetector, samples: np.ndarray, chunk: int = 320) -> list[Edge]:
    edges: list[Edge] = []
    for start in range(0, samples.size, chunk):
        edges.extend(detector.feed(samples[start : start + chunk]))
    return edges


def test_defaults_from_an_empty_setup() -> None:
    settings = VadSettings.from_setup({})
    assert (settings.prefix_padding_ms, settings.silence_duration_ms) == (
        DEFAULT_PREFIX_PADDING_MS,
        DEFAULT_SILENCE_DURATION_MS,
    )
    assert settings == VadSettings()


def test_unspecified_sensitivities_are_high_on_gemini_and_low_on_vertex() -> None:
    gemini, vertex = VadSettings.from_setup({}), VadSettings.from_setup({}, vertex=True)
    assert gemini == VadSettings.from_setup(
        {
            "startOfSpeechSensitivity": "START_SENSITIVITY_HIGH",
            "endOfSpeechSensitivity": "END_SENSITIVITY_HIGH",
        }
    )
    assert vertex == VadSettings.from_setup(
        {"startOfSpeechSensitivity": "START_SENSITIVITY_LOW", "endOfSpeechSensitivity": "END_SENSITIVITY_LOW"}
    )
    assert gemini != vertex


def test_speech_then_trailing_silence_is_one_utterance_with_offsets() -> None:
    """0.5 s silence, 1 s speech, then silence that keeps coming: START at 0.5 s, END at 1.5 s."""
    detector = VoiceDetector(VadSettings())
    edges = _feed(detector, np.concatenate([_silence(0.5), _tone(1.0), _silence(2.0)]))
    assert [e.type for e in edges] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert edges[0].offset == pytest.approx(0.5, abs=0.011)
    assert edges[1].offset == pytest.approx(1.5, abs=0.011)


@pytest.mark.parametrize("silence_ms", [100, 500, 1500])
def test_silence_duration_decides_when_the_utterance_ends(silence_ms: int) -> None:
    """A pause shorter than silenceDurationMs keeps the utterance; one as long ends it."""
    detector = VoiceDetector(VadSettings(silence_duration_ms=silence_ms))
    short = _feed(detector, np.concatenate([_tone(0.3), _silence(silence_ms / 1000 - 0.03), _tone(0.3)]))
    assert [e.type for e in short] == ["ACTIVITY_START"]
    ended = _feed(detector, _silence(silence_ms / 1000 + 0.02))
    assert [e.type for e in ended] == ["ACTIVITY_END"]


def test_prefix_padding_ignores_shorter_sounds() -> None:
    """A 50 ms click does not start an utterance when 100 ms of speech are required; 150 ms does."""
    detector = VoiceDetector(VadSettings(prefix_padding_ms=100))
    assert _feed(detector, np.concatenate([_tone(0.05), _silence(0.5)])) == []
    edges = _feed(detector, _tone(0.15))
    assert [e.type for e in edges] == ["ACTIVITY_START"]
    assert edges[0].offset == pytest.approx(0.55, abs=0.011)


def test_start_sensitivity_low_ignores_quiet_speech() -> None:
    """Speech at -38 dBFS starts an utterance with HIGH start sensitivity, not with LOW."""
    quiet = np.concatenate([_tone(0.5, dbfs=-38.0), _silence(1.0)])
    high = VoiceDetector(VadSettings.from_setup({"startOfSpeechSensitivity": "START_SENSITIVITY_HIGH"}))
    low = VoiceDetector(VadSettings.from_setup({"startOfSpeechSensitivity": "START_SENSITIVITY_LOW"}))
    assert [e.type for e in _feed(high, quiet)] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert _feed(low, quiet) == []


def test_end_sensitivity_low_needs_quieter_silence() -> None:
    """Noise at -50 dBFS after speech ends the utterance with HIGH end sensitivity, not with LOW."""
    audio = np.concatenate([_tone(0.5), _tone(1.0, dbfs=-50.0)])
    high = VoiceDetector(VadSettings.from_setup({"endOfSpeechSensitivity": "END_SENSITIVITY_HIGH"}))
    low = VoiceDetector(VadSettings.from_setup({"endOfSpeechSensitivity": "END_SENSITIVITY_LOW"}))
    assert [e.type for e in _feed(high, audio)] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert [e.type for e in _feed(low, audio)] == ["ACTIVITY_START"]


def test_end_of_stream_ends_an_open_utterance_where_the_audio_stopped() -> None:
    detector = VoiceDetector(VadSettings())
    _feed(detector, _tone(0.8))
    edge = detector.end_of_stream()
    assert edge == Edge("ACTIVITY_END", pytest.approx(0.8, abs=0.011))
    assert detector.end_of_stream() is None


def test_the_probe_prompt_is_one_utterance() -> None:
    """The spoken prompt's pause between its two sentences (~0.3 s) does not split it at the defaults."""
    samples = np.frombuffer(prompt_pcm(), dtype="<i2").astype(np.float64)
    detector = VoiceDetector(VadSettings())
    edges = _feed(detector, np.concatenate([samples, _silence(1.0)]), chunk=1600)
    assert [e.type for e in edges] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert edges[0].offset < 0.1
    assert 3.0 < edges[1].offset < samples.size / RATE + 0.01


@pytest.mark.parametrize("value", [None, "x", -5, True, 1.5, "250"])
def test_odd_duration_values_fall_back_or_are_read(value: object) -> None:
    settings = VadSettings.from_setup({"silenceDurationMs": value})
    expected = {1.5: 1, "250": 250}.get(value, DEFAULT_SILENCE_DURATION_MS)  # type: ignore[call-overload]
    assert settings.silence_duration_ms == expected
