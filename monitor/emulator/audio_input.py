"""Input audio as the service takes it: the MIME type and rate a chunk declares, and PCM resampled to 16 kHz.

The Live API's input audio is raw 16-bit little-endian mono PCM, natively 16 kHz; the declared rate
(`audio/pcm;rate=8000`) may be anything sensible and the service resamples (Google's Live API capabilities
guide; Firebase AI Logic "Live API limits and specs", which also lists the compressed types accepted:
audio/x-aac, flac, mp3, m4a, mpeg, mpga, mp4, ogg, wav, webm). The emulator analyses PCM only; compressed
audio is accepted and counted as sound whose content it cannot hear (see `InputFormat.pcm`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "VAD_RATE",
    "InputFormat",
    "Resampler",
    "UnsupportedAudioError",
    "parse_input_mime",
]

VAD_RATE: Final = 16_000
# Outside these the emulator refuses the rate: below telephony narrowband and above studio rates nothing real
# is sent, and a rate of 0 or 10^9 is a client bug worth a clear close rather than a silent stall.
MIN_RATE: Final = 4_000
MAX_RATE: Final = 192_000
_PCM_TYPES: Final = frozenset({"audio/pcm", "audio/l16", "audio/raw"})
_COMPRESSED_TYPES: Final = frozenset(
    {
        "audio/x-aac",
        "audio/aac",
        "audio/flac",
        "audio/mp3",
        "audio/m4a",
        "audio/mpeg",
        "audio/mpga",
        "audio/mp4",
        "audio/ogg",
        "audio/wav",
        "audio/webm",
    }
)
_RATE: Final = re.compile(r"^\s*rate\s*=\s*(\S+)\s*$", re.IGNORECASE)
_MIME_PATH: Final = "realtime_input.audio.mime_type"


class UnsupportedAudioError(ValueError):
    """A chunk the service would refuse; `reason` is the 1007 close reason (it names the field)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InputFormat:
    mime_type: str  # the bare type, lower case
    rate: int  # samples per second (PCM); 16000 when the type carries none
    pcm: bool  # False: a compressed container the emulator cannot decode

    @property
    def bytes_per_second(self) -> int:
        return self.rate * 2


def parse_input_mime(mime_type: object) -> InputFormat:
    """The format an audio chunk's `mimeType` declares; UnsupportedAudioError if the service refuses it."""
    if not isinstance(mime_type, str) or not mime_type.strip():
        raise UnsupportedAudioError(
            f"Invalid value at '{_MIME_PATH}': a MIME type is required, e.g. audio/pcm;rate=16000"
        )
    base, *parameters = mime_type.split(";")
    kind = base.strip().lower()
    if kind not in _PCM_TYPES and kind not in _COMPRESSED_TYPES:
        raise UnsupportedAudioError(
            f"Invalid value at '{_MIME_PATH}': unsupported MIME type \"{mime_type[:60]}\""
        )
    rate = VAD_RATE
    for parameter in parameters:
        match = _RATE.match(parameter)
        if match is None:
            continue
        value = match.group(1)
        if not value.isdigit() or not MIN_RATE <= int(value) <= MAX_RATE:
            raise UnsupportedAudioError(
                f"Invalid value at '{_MIME_PATH}': unsupported sample rate \"{value[:20]}\" "
                f"(supported: {MIN_RATE}-{MAX_RATE} Hz)"
            )
        rate = int(value)
    return InputFormat(mime_type=kind, rate=rate, pcm=kind in _PCM_TYPES)


class Resampler:
    """s16le PCM at any rate to float samples at 16 kHz, chunk after chunk (linear interpolation, stateful
    so chunk edges leave no seam). 16 kHz input passes through sample for sample."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._carry = b""  # an odd trailing byte, joined to the next chunk
        self._last: float | None = None  # the previous chunk's last sample
        self._position = 0.0  # next output position, in input samples after `_last`

    def feed(self, data: bytes) -> npt.NDArray[np.float64]:
        data = self._carry + data
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.float64)
        if self.rate == VAD_RATE or samples.size == 0:
            return samples
        # Positions count input samples from `source[0]`; `_position` carries the phase across chunks.
        source = samples if self._last is None else np.concatenate(([self._last], samples))
        step = self.rate / VAD_RATE
        positions = np.arange(self._position, source.size - 1 + 1e-9, step)
        out: npt.NDArray[np.float64] = np.interp(positions, np.arange(source.size), source)
        following = positions[-1] + step if positions.size else self._position
        self._position = following - (source.size - 1)
        self._last = float(source[-1])
        return out
