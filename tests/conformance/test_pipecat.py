"""Pipecat's `GeminiLiveLLMService(..., http_options=...)`, run in a real pipeline with no transport (frames
go in and come out as a transport would pass them), completes a text turn on each model family and
gemini-3.8-live, answers a continuous microphone at 16 kHz and 8 kHz telephony rate, and survives a 1011
mid-answer by resuming on its handle; every frame both ways validates against google-genai's types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import pytest
from google.genai import types
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InputTextRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams
from pipecat.workers.runner import WorkerRunner

from tests.conformance.audio import chunks, microphone, speech
from tests.conformance.conftest import LiveStack, StackFactory, scenario
from tests.conformance.frames import decoded
from tests.conformance.proxy import Changes

TURN_TIMEOUT = 10.0


@dataclass
class Reply:
    text: str = ""
    audio: bytes = b""


@dataclass
class Bot:
    """What comes out of the service, as the next processor (the transport's output) sees it."""

    replies: list[Reply] = field(default_factory=list)
    errors: list[ErrorFrame] = field(default_factory=list)
    current: Reply = field(default_factory=Reply)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    changes: Changes = field(default_factory=Changes)

    def take(self, frame: Frame) -> None:
        self.changes.notify()
        if isinstance(frame, TTSAudioRawFrame):
            self.current.audio += frame.audio
        elif isinstance(frame, TTSTextFrame):
            self.current.text += frame.text
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.replies.append(self.current)
            self.current = Reply()
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame)


class Tap(FrameProcessor):
    """Passes every frame on, and shows the bot the ones flowing in `direction`."""

    def __init__(self, bot: Bot, direction: FrameDirection) -> None:
        super().__init__()
        self._bot = bot
        self._direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is self._direction:
            self._bot.take(frame)
        await self.push_frame(frame, direction)


@asynccontextmanager
async def pipeline(
    stack: LiveStack, model: str, *, rate: int = 16_000, vad: GeminiVADParams | None = None
) -> AsyncIterator[tuple[PipelineWorker, Bot]]:
    settings = GeminiLiveLLMService.Settings(model=f"models/{model}", system_instruction="Be brief.", vad=vad)
    service = GeminiLiveLLMService(
        api_key="conformance-key",
        settings=settings,
        http_options=types.HttpOptions(base_url=stack.base_url, api_version="v1beta"),
    )
    bot = Bot()
    worker = PipelineWorker(
        Pipeline([Tap(bot, FrameDirection.UPSTREAM), service, Tap(bot, FrameDirection.DOWNSTREAM)]),
        params=PipelineParams(audio_in_sample_rate=rate),
        cancel_on_idle_timeout=False,
    )

    @worker.event_handler("on_pipeline_started")
    async def _started(worker: PipelineWorker, frame: Frame) -> None:
        bot.started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(bot.started.wait(), TURN_TIMEOUT)
        yield worker, bot
    finally:
        await worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(running, TURN_TIMEOUT)
        except TimeoutError:
            running.cancel()
            with suppress(asyncio.CancelledError):
                await running


async def replies(bot: Bot, count: int, stack: LiveStack) -> list[Reply]:
    try:
        async with asyncio.timeout(TURN_TIMEOUT):
            await bot.changes.until(lambda: len(bot.replies) >= count or bool(bot.errors))
    except TimeoutError:
        raise AssertionError(
            f"Pipecat got {len(bot.replies)} of {count} replies:\n{stack.describe()}"
        ) from None
    assert not bot.errors, [e.error for e in bot.errors]
    return bot.replies


def user_says(text: str) -> LLMContextFrame:
    return LLMContextFrame(LLMContext(messages=[{"role": "user", "content": text}]))


@pytest.mark.parametrize(
    "model",
    ["gemini-2.5-flash-native-audio-preview-12-2025", "gemini-3.1-flash-live-preview", "gemini-3.8-live"],
)
async def test_text_turn(live_stack: StackFactory, model: str) -> None:
    """The first context's user message is answered with speech and its transcript (on 3.x Pipecat sends
    clientContent with turnComplete, then a realtimeInput.text " " nudge: one answer, not two)."""
    async with live_stack() as stack, pipeline(stack, model) as (worker, bot):
        await worker.queue_frame(user_says("Say OK."))
        (reply,) = await replies(bot, 1, stack)
        await asyncio.sleep(0.3)  # a second answer to the nudge would arrive now
        assert len(bot.replies) == 1, stack.describe()
    assert reply.text
    assert len(reply.audio) / 2 / 24_000 > 0.5


@pytest.mark.parametrize(
    ("model", "rate"),
    [
        pytest.param("gemini-3.8-live", 16_000, id="16k-3.8"),
        pytest.param("gemini-2.5-flash-native-audio-preview-12-2025", 16_000, id="16k-2.5"),
        pytest.param("gemini-3.8-live", 8_000, id="8k-telephony"),
    ],
)
async def test_continuous_microphone_is_answered(live_stack: StackFactory, model: str, rate: int) -> None:
    """InputAudioRawFrame every 20 ms, speech then silence that never stops, with server-side activity
    detection (Pipecat's default); at 8 kHz the chunks are 320 bytes of `audio/pcm;rate=8000`."""
    async with live_stack() as stack, pipeline(stack, model, rate=rate) as (worker, bot):
        await worker.queue_frame(LLMContextFrame(LLMContext(messages=[])))  # ready for realtime input
        answered = asyncio.Event()

        async def speak(frame: bytes) -> None:
            await worker.queue_frame(InputAudioRawFrame(audio=frame, sample_rate=rate, num_channels=1))

        mic = asyncio.create_task(microphone(speak, answered, rate=rate, frame_ms=20))
        try:
            (reply,) = await replies(bot, 1, stack)
        finally:
            answered.set()
            await mic
        sent = [decoded(f) for f in stack.connections[0].sent()]
    audio = [m["realtime_input"]["audio"] for m in sent if "audio" in m.get("realtime_input", {})]
    assert {a["mime_type"] for a in audio} == {f"audio/pcm;rate={rate}"}
    assert reply.text
    assert len(reply.audio) / 2 / 24_000 > 0.5
    starts = [
        m for f in stack.connections[0].received() if (m := decoded(f).get("voiceActivity", {})).get("type")
    ]
    if model.startswith("gemini-3"):  # 2.5 models send no voiceActivity
        assert [m["type"] for m in starts] == ["ACTIVITY_START", "ACTIVITY_END"]  # once, not once per chunk


async def test_1011_mid_answer_resumes_on_the_handle(live_stack: StackFactory) -> None:
    """close-1011-mid-stream: Pipecat reconnects on the newest handle without telling the pipeline (no
    ErrorFrame), and the user's next turn on the resumed session is answered."""
    async with (
        live_stack("close-1011-mid-stream") as stack,
        pipeline(stack, "gemini-3.1-flash-live-preview") as (worker, bot),
    ):
        await worker.queue_frame(user_says("Tell me a story."))
        await stack.until(
            lambda: len(stack.connections) >= 2 and bool(stack.connections[1].received()),
            "Pipecat did not resume",
        )
        first, resumed = stack.connections[0], stack.connections[1]
        assert first.server_close is not None
        assert first.server_close[0] == 1011
        handles = [
            u["newHandle"]
            for f in first.received()
            if (u := decoded(f).get("sessionResumptionUpdate", {})).get("resumable") and u.get("newHandle")
        ]
        setup = decoded(resumed.sent()[0])["setup"]
        assert (setup.get("sessionResumption") or setup.get("session_resumption")) == {"handle": handles[-1]}
        before = len(bot.replies)
        await worker.queue_frame(InputTextRawFrame(text="Say OK."))  # typed by the user: realtimeInput.text
        answered = await replies(bot, before + 1, stack)
    assert answered[-1].audio
    assert not bot.errors


async def test_goaway_is_ignored_until_the_abort_then_resumed(live_stack: StackFactory) -> None:
    """Pipecat 1.14 does not act on goAway: the emulator aborts it with the real 1008 goAway reason when
    timeLeft runs out, Pipecat reconnects on its newest handle and the user's next turn is answered."""
    fault = {
        "kind": "goaway",
        "at": "mid_stream",
        "after_chunks": 2,
        "time_left_s": 1,
        "handle_before": True,
        "sessions": "fresh",
    }
    async with (
        live_stack(scenario(faults=[fault])) as stack,
        pipeline(stack, "gemini-3.8-live") as (worker, bot),
    ):
        await worker.queue_frame(user_says("Tell me a story."))
        await stack.until(
            lambda: len(stack.connections) >= 2 and bool(stack.connections[1].received()),
            "Pipecat did not reconnect after the goAway abort",
        )
        first, resumed = stack.connections[0], stack.connections[1]
        assert any("goAway" in decoded(f) for f in first.received())
        assert first.server_close is not None
        assert first.server_close[0] == 1008
        assert "GoAway" in first.server_close[1]
        setup = decoded(resumed.sent()[0])["setup"]
        assert (setup.get("sessionResumption") or setup.get("session_resumption") or {}).get("handle")
        before = len(bot.replies)
        await worker.queue_frame(InputTextRawFrame(text="Say OK."))
        answered = await replies(bot, before + 1, stack)
    assert answered[-1].audio


async def test_1011_storm_ends_in_one_error_frame_after_three_failures(live_stack: StackFactory) -> None:
    """Every session closed 1011 right after setupComplete: Pipecat reconnects silently twice, and the
    third consecutive failure is the first thing the pipeline hears, an ErrorFrame naming the limit."""
    storm = {"kind": "close", "code": 1011, "reason": "internal", "at": "after_setup_complete"}
    async with (
        live_stack(scenario(faults=[storm])) as stack,
        pipeline(stack, "gemini-3.8-live") as (_, bot),
    ):
        async with asyncio.timeout(TURN_TIMEOUT):
            await bot.changes.until(lambda: bool(bot.errors))
        await asyncio.sleep(0.3)  # a fourth session would be opening now
        assert len(bot.errors) == 1
        assert "Max consecutive failures (3) reached" in bot.errors[0].error
        assert [c.server_close for c in stack.connections] == [(1011, "Internal error encountered.")] * 3


async def test_locally_driven_turn_with_server_detection_off(live_stack: StackFactory) -> None:
    """vad=GeminiVADParams(disabled=True), turns from the app's own detector: UserStartedSpeakingFrame ->
    activityStart plus the buffered onset, speech, UserStoppedSpeakingFrame -> activityEnd; 3.1 answers."""
    async with (
        live_stack() as stack,
        pipeline(stack, "gemini-3.1-flash-live-preview", vad=GeminiVADParams(disabled=True)) as (worker, bot),
    ):
        await worker.queue_frame(LLMContextFrame(LLMContext(messages=[])))
        await stack.until(
            lambda: bool(stack.connections and stack.connections[0].received()), "no setupComplete"
        )
        await asyncio.sleep(0.5)  # the user starts talking a moment after the call connects
        frames = chunks(speech(), 640)  # 20 ms at 16 kHz
        await worker.queue_frame(InputAudioRawFrame(audio=frames[0], sample_rate=16_000, num_channels=1))
        await worker.queue_frame(UserStartedSpeakingFrame())
        for frame in frames[1:]:
            await worker.queue_frame(InputAudioRawFrame(audio=frame, sample_rate=16_000, num_channels=1))
        await worker.queue_frame(UserStoppedSpeakingFrame())
        (reply,) = await replies(bot, 1, stack)
        sent = [decoded(f) for f in stack.connections[0].sent()]
    assert reply.audio
    setup = sent[0]["setup"]
    config = setup.get("realtimeInputConfig") or setup.get("realtime_input_config")
    assert config == {"automatic_activity_detection": {"disabled": True}}
    kinds = [next(iter(m["realtime_input"])) for m in sent if "realtime_input" in m]
    assert kinds[0] == "activityStart"  # the onset frame was held back, then flushed inside the activity
    assert kinds[-1] == "activityEnd"
    assert set(kinds[1:-1]) == {"audio"}
