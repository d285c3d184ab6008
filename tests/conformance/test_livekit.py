"""LiveKit Agents' Gemini Live client (`google.realtime.RealtimeModel` -> `RealtimeSession`), driven without a
room as issue 10 describes (`model.session()`, `push_audio`, `generate_reply`), completes a text turn on each
incident model family and gemini-3.8-live, answers a continuous microphone, and survives a 1011 mid-answer by
resuming on its handle; every frame both ways validates against google-genai's types (live_stack)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from google.genai import types
from livekit import rtc
from livekit.agents import APIConnectOptions, llm
from livekit.plugins import google as lk_google

from tests.conformance.audio import RATE, chunks, microphone, speech
from tests.conformance.conftest import LiveStack, StackFactory, describe, scenario
from tests.conformance.frames import decoded
from tests.conformance.proxy import Changes

TURN_TIMEOUT = 10.0


@dataclass
class Reply:
    text: str = ""
    audio: bytes = b""


@dataclass
class Observed:
    """What the app sees of the session: its generations and its error events."""

    replies: list[Reply] = field(default_factory=list)
    errors: list[llm.RealtimeModelError] = field(default_factory=list)
    done: list[asyncio.Task[Reply]] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)


async def read(generation: llm.GenerationCreatedEvent) -> Reply:
    """Drain one generation as an agent's playout does: text and audio concurrently, to the end."""
    reply = Reply()

    async def text(stream: AsyncIterator[str]) -> None:
        async for piece in stream:
            reply.text += piece

    async def audio(stream: AsyncIterator[rtc.AudioFrame]) -> None:
        async for frame in stream:
            reply.audio += bytes(frame.data)

    async for message in generation.message_stream:
        await asyncio.gather(text(message.text_stream), audio(message.audio_stream))
    return reply


@asynccontextmanager
async def realtime(stack: LiveStack, model: str, **options: Any) -> AsyncIterator[tuple[Any, Observed]]:
    realtime_model = lk_google.realtime.RealtimeModel(
        model=model,
        api_key="conformance-key",
        instructions="You are a helpful assistant.",
        http_options=types.HttpOptions(base_url=stack.base_url, api_version="v1beta"),
        session_resumption=types.SessionResumptionConfig(),
        **options,
    )
    session = realtime_model.session()
    observed = Observed()

    def failed(error: llm.RealtimeModelError) -> None:
        observed.errors.append(error)
        observed.changes.notify()

    session.on("error", failed)

    def created(event: llm.GenerationCreatedEvent) -> None:
        observed.done.append(asyncio.create_task(read(event)))
        observed.changes.notify()

    session.on("generation_created", created)
    try:
        yield session, observed
    finally:
        await session.aclose()


async def next_reply(observed: Observed, index: int, stack: LiveStack) -> Reply:
    try:
        async with asyncio.timeout(TURN_TIMEOUT):
            await observed.changes.until(lambda: len(observed.done) > index)
            return await observed.done[index]
    except TimeoutError:
        raise AssertionError(f"LiveKit saw no reply #{index + 1}:\n{stack.describe()}") from None


def turn_completes(stack: LiveStack, connection: int = -1) -> bool:
    return any(
        decoded(f).get("serverContent", {}).get("turnComplete")
        for f in stack.connections[connection].received()
    )


@pytest.mark.parametrize(
    "model",
    ["gemini-2.5-flash-native-audio-preview-12-2025", "gemini-3.1-flash-live-preview", "gemini-3.8-live"],
)
async def test_generate_reply_text_turn(live_stack: StackFactory, model: str) -> None:
    """generate_reply(instructions=...) is answered with speech and a transcript on every model family;
    on 3.1 and 3.8 LiveKit sends it as mid-session clientContent with turnComplete, which today's models
    take."""
    async with live_stack() as stack, realtime(stack, model) as (session, observed):
        generation = await asyncio.wait_for(session.generate_reply(instructions="Say OK."), TURN_TIMEOUT)
        assert generation.user_initiated
        reply = await next_reply(observed, 0, stack)
        assert reply.text
        assert len(reply.audio) / 2 / 24_000 > 0.5
        assert turn_completes(stack), describe(stack.connections[-1])
        assert not observed.errors
        sent = [decoded(f) for f in stack.connections[0].sent()]
        assert any("client_content" in m for m in sent)


@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"])
async def test_continuous_microphone_is_answered(live_stack: StackFactory, model: str) -> None:
    """push_audio of 20 ms frames, speech then silence that never stops (LiveKit rebuffers to 50 ms): the
    server's activity detection ends the utterance and the answer arrives while the microphone is open."""
    async with live_stack() as stack, realtime(stack, model) as (session, observed):
        answered = asyncio.Event()

        def push(frame: bytes) -> None:
            session.push_audio(
                rtc.AudioFrame(
                    data=frame, sample_rate=RATE, num_channels=1, samples_per_channel=len(frame) // 2
                )
            )

        mic = asyncio.create_task(microphone(push, answered, frame_ms=20))
        try:
            reply = await next_reply(observed, 0, stack)
        finally:
            answered.set()
            await mic
        assert reply.text
        assert np.frombuffer(reply.audio, dtype="<i2").size / 24_000 > 0.5
        assert turn_completes(stack)
        assert not observed.errors


async def test_1011_mid_answer_resumes_on_the_handle(live_stack: StackFactory) -> None:
    """The close-1011-mid-stream scenario: the first answer dies with 1011 after a handle was issued; LiveKit
    emits a recoverable error, reconnects with that handle, re-syncs the cut-off answer as history
    (clientContent, turnComplete false) and its next generate_reply completes."""
    async with (
        live_stack("close-1011-mid-stream") as stack,
        realtime(stack, "gemini-3.1-flash-live-preview") as (session, observed),
    ):
        await asyncio.wait_for(session.generate_reply(instructions="Tell me a story."), TURN_TIMEOUT)
        await next_reply(observed, 0, stack)  # cut off: its streams end with the socket
        await stack.until(
            lambda: len(stack.connections) >= 2 and bool(stack.connections[1].sent()),
            "LiveKit did not reconnect",
        )
        first, resumed = stack.connections[0], stack.connections[1]
        assert first.server_close is not None
        assert first.server_close[0] == 1011
        assert [e.recoverable for e in observed.errors] == [True]
        handles = [
            u["newHandle"]
            for f in first.received()
            if (u := decoded(f).get("sessionResumptionUpdate", {})).get("resumable") and u.get("newHandle")
        ]
        setup = decoded(resumed.sent()[0])["setup"]
        resumption = setup.get("sessionResumption") or setup.get("session_resumption")
        assert resumption == {"handle": handles[-1]}
        await asyncio.wait_for(session.generate_reply(instructions="Say OK."), TURN_TIMEOUT)
        reply = await next_reply(observed, len(observed.done) - 1, stack)
        assert reply.audio
        assert turn_completes(stack, 1), stack.describe()
        # LiveKit re-syncs what the handle does not cover (the cut-off answer) as history, turnComplete false.
        resync = [m["client_content"] for f in resumed.sent() if "client_content" in (m := decoded(f))]
        assert any(c["turnComplete"] is False and c["turns"][0]["role"] == "model" for c in resync), resync


async def test_goaway_mid_answer_reconnects_on_the_handle(live_stack: StackFactory) -> None:
    """A goAway mid-answer (a handle issued just before, as a long call has one): LiveKit closes at once with
    1000, well inside timeLeft, reconnects with the handle, and its next generate_reply completes."""
    goaway = {"kind": "goaway", "at": "mid_stream", "after_chunks": 2, "time_left_s": 30}
    fault = {**goaway, "handle_before": True, "sessions": "fresh"}
    async with (
        live_stack(scenario(faults=[fault])) as stack,
        realtime(stack, "gemini-3.8-live") as (session, observed),
    ):
        await asyncio.wait_for(session.generate_reply(instructions="Tell me a story."), TURN_TIMEOUT)
        await next_reply(observed, 0, stack)
        await stack.until(
            lambda: len(stack.connections) >= 2 and bool(stack.connections[1].sent()),
            "LiveKit did not reconnect",
        )
        first, resumed = stack.connections[0], stack.connections[1]
        assert any("goAway" in decoded(f) for f in first.received())
        assert first.client_close is not None
        assert first.client_close[0] == 1000
        assert first.server_close is None  # never aborted: it left before timeLeft ran out
        setup = decoded(resumed.sent()[0])["setup"]
        assert (setup.get("sessionResumption") or {}).get("handle")
        await asyncio.wait_for(session.generate_reply(instructions="Say OK."), TURN_TIMEOUT)
        reply = await next_reply(observed, len(observed.done) - 1, stack)
        assert reply.audio
        assert turn_completes(stack, 1), stack.describe()


async def test_manual_activity_turn_then_empty_client_content(live_stack: StackFactory) -> None:
    """With server-side detection off (LiveKit's own turn detector drives turns): start_user_activity, a
    second of speech, generate_reply() -> activityEnd then `client_content {turns: [], turnComplete: true}`
    on 3.1, which today's model answers instead of refusing with 1007."""
    manual = types.RealtimeInputConfig(
        automatic_activity_detection=types.AutomaticActivityDetection(disabled=True)
    )
    async with (
        live_stack() as stack,
        realtime(stack, "gemini-3.1-flash-live-preview", realtime_input_config=manual) as (session, observed),
    ):
        await stack.until(lambda: bool(stack.connections), "LiveKit did not connect")
        session.start_user_activity()
        pcm = speech()
        for chunk in chunks(pcm, RATE // 50 * 2):
            session.push_audio(
                rtc.AudioFrame(
                    data=chunk, sample_rate=RATE, num_channels=1, samples_per_channel=len(chunk) // 2
                )
            )
        await asyncio.wait_for(session.generate_reply(), TURN_TIMEOUT)
        reply = await next_reply(observed, 0, stack)
        assert reply.audio
        assert turn_completes(stack)
        assert not observed.errors
        sent = [decoded(f) for f in stack.connections[0].sent()]
        assert {"client_content": {"turns": [], "turnComplete": True}} in sent
        kinds = [next(iter(m.get("realtime_input", {"-": 0}))) for m in sent]
        assert kinds.index("activityStart") < kinds.index("audio") < kinds.index("activityEnd")


async def test_1011_storm_exhausts_the_retries(live_stack: StackFactory) -> None:
    """Every session closed 1011 right after setupComplete: LiveKit retries max_retry (3) times, each a
    recoverable `error` event, then gives up with one unrecoverable one; 4 sessions reach the server."""
    storm = {"kind": "close", "code": 1011, "reason": "internal", "at": "after_setup_complete"}
    options = {"conn_options": APIConnectOptions(max_retry=3, retry_interval=0.05)}
    async with (
        live_stack(scenario(faults=[storm])) as stack,
        realtime(stack, "gemini-3.8-live", **options) as (_, observed),
    ):
        async with asyncio.timeout(TURN_TIMEOUT):
            await observed.changes.until(lambda: any(not e.recoverable for e in observed.errors))
        assert [e.recoverable for e in observed.errors] == [True, True, True, False]
        assert [c.server_close for c in stack.connections] == [(1011, "Internal error encountered.")] * 4
