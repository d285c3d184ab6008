"""What the emulator's input handling costs: voice activity detection (with resampling) per audio chunk, and
a continuous-microphone turn end to end over a loopback socket with no emulated latency.

    .venv/bin/python benchmarks/emulator_input.py

Prints one line per input format (microseconds per chunk over 60 s of audio, speech 2 s on / 1 s off), then
the end-to-end figure last: milliseconds from the end of the trailing silence the detector needs to the first
audio chunk of the answer, median of 20 turns.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time

import aiohttp
import numpy as np

from monitor.emulator import Scenario, start_emulator
from monitor.emulator.utterance import Utterances
from monitor.emulator.vad import DEFAULT_SILENCE_DURATION_MS, VadSettings

FORMATS = ((16_000, 3200), (8_000, 320), (48_000, 1920))  # (rate, bytes per chunk): 100 ms, 20 ms, 20 ms


def _speech_pattern(rate: int, seconds: int) -> bytes:
    t = np.arange(rate * seconds)
    voiced = (t // rate) % 3 != 2
    return (np.sin(t * 2 * np.pi * 220 / rate) * 8000 * voiced).astype("<i2").tobytes()


def detection_cost(rate: int, chunk: int) -> tuple[float, int]:
    utterances = Utterances(manual=False, settings=VadSettings())
    pcm = _speech_pattern(rate, 60)
    mime = f"audio/pcm;rate={rate}"
    turns = 0
    start = time.perf_counter()
    for offset in range(0, len(pcm), chunk):
        turns += utterances.audio({"mimeType": mime, "data": pcm[offset : offset + chunk]}).turn is not None
    elapsed = time.perf_counter() - start
    return elapsed / (len(pcm) / chunk) * 1e6, turns


async def answer_latency(turns: int = 20) -> list[float]:
    """Per turn: 0.5 s of speech, then 20 ms silence frames until the answer's first audio arrives."""
    speech = _speech_pattern(16_000, 1)[:16_000]  # 0.5 s voiced
    silence = bytes(640)
    frames_needed = DEFAULT_SILENCE_DURATION_MS // 20
    latencies = []
    async with (
        start_emulator(Scenario(name="bench"), latency_scale=0.0, seed=1) as emulator,
        aiohttp.ClientSession() as http,
    ):
        for _ in range(turns):
            async with http.ws_connect(emulator.url, headers={"x-goog-api-key": "bench"}) as ws:
                await ws.send_json({"setup": {"model": "models/gemini-3.8-live"}})
                await ws.receive()

                async def send(pcm: bytes, ws: aiohttp.ClientWebSocketResponse = ws) -> None:
                    data = base64.b64encode(pcm).decode()
                    await ws.send_json({"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": data}}})

                await send(speech)
                for _ in range(frames_needed):
                    await send(silence)
                silence_done = time.perf_counter()
                while True:
                    message = json.loads((await ws.receive()).data)
                    if "modelTurn" in message.get("serverContent", {}):
                        latencies.append((time.perf_counter() - silence_done) * 1000)
                        break
    return latencies


def main() -> None:
    for rate, chunk in FORMATS:
        per_chunk, turns = detection_cost(rate, chunk)
        print(f"detection {rate} Hz, {chunk}-byte chunks: {per_chunk:.0f} us/chunk ({turns} utterances/60 s)")
    latencies = asyncio.run(answer_latency())
    median = statistics.median(latencies)
    print(f"answer after trailing silence (latency scale 0, loopback): median {median:.1f} ms")


if __name__ == "__main__":
    main()
