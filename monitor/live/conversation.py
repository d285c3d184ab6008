"""One conversation: connect, set up, obey goAway, send one turn, answer tool calls, read to turnComplete.

Everything measured goes into a `Trace` (marks on the monotonic clock, the server message sequence, the audio
and transcripts, the newest resumption handle, the phase that was running). `converse()` raises a `LiveError`
on any failure; the trace is still complete up to that point, and `probe/runner.py` turns both into a record.

Phase budgets: connect, setup (setup sent to setupComplete), first_response (turn sent to the first model
content; again from a toolResponse to the content that follows it), turn (turn sent to turnComplete). A goAway
clips every later deadline to its `timeLeft` (minus a margin): we close first and say so (client, goaway).

Every await has a deadline, whatever the server does: the upgrade (connect budget), the setup send and its
answer (setup budget), the turn's sends, its answers and our tool responses (turn budget), and each close
(`Limits.close_seconds`, after which the socket is dropped). What a server sends is bounded too: the message
log keeps the first and last `messages_kept` entries and counts the rest; audio beyond `audio_bytes` is
counted (its length and MIME types) but not kept.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from monitor.clock import Clock
from monitor.live import messages as wire
from monitor.live.errors import ClientClosed, PhaseTimeout, ProtocolError
from monitor.live.phase import Phase
from monitor.live.session import Ending, LiveSession

__all__ = ["DROPPED_KIND", "Budgets", "Endpoint", "Limits", "MessageLog", "Trace", "TurnPlan", "converse"]

_GOAWAY_MARGIN_SECONDS = 1.0


class Budgets(Protocol):
    """Per-phase budgets in seconds (`probe.target.PhaseBudgets` satisfies it)."""

    @property
    def connect(self) -> float: ...
    @property
    def setup(self) -> float: ...
    @property
    def first_response(self) -> float: ...
    @property
    def turn(self) -> float: ...


class Limits(Protocol):
    """Bounds on what one turn keeps of a server's input (`probe.target.ProbeLimits` satisfies it)."""

    @property
    def audio_bytes(self) -> int: ...
    @property
    def messages_kept(self) -> int: ...
    @property
    def frame_bytes(self) -> int: ...
    @property
    def json_depth(self) -> int: ...
    @property
    def integer_digits(self) -> int: ...
    @property
    def close_seconds(self) -> float: ...


# The message-log entry standing where entries were dropped; no server key can be recorded under this name
# (`bounds.kind_name` never starts a kind with "~").
DROPPED_KIND = "~dropped"
# Distinct MIME types of audio counted beyond the kept bytes, kept for the checks.
_DROPPED_MIMES = 4
# What a kept chunk is charged at the least: its objects (chunk, bytes, MIME string) take about 200 bytes even
# when its audio is empty. Real chunks (40-240 ms, 1,920-11,520 bytes) are charged their length.
_CHUNK_COST = 256
# Characters of text and of transcript kept per turn, each: the checks only ask whether any came, and a
# server streaming text without end must not grow memory (1 MB transcript frames for 30 s took 14 GB).
TEXT_CHARS = 64 * 1024


@dataclass(slots=True)
class MessageLog:
    """The server message sequence of a turn: the first and the last `keep` entries, and how many between."""

    keep: int = 100
    head: list[tuple[str, float]] = field(default_factory=list)
    tail: deque[tuple[str, float]] = field(default_factory=deque)
    dropped: int = 0
    dropped_at: float = 0.0  # mark of the first dropped entry
    last_at: float = 0.0  # mark of the newest entry

    def append(self, kind: str, at: float) -> None:
        self.last_at = at
        if len(self.head) < self.keep:
            self.head.append((kind, at))
            return
        if len(self.tail) >= self.keep:
            oldest = self.tail.popleft()
            if not self.dropped:
                self.dropped_at = oldest[1]
            self.dropped += 1
        self.tail.append((kind, at))

    def __iter__(self) -> Iterator[tuple[str, float]]:
        """Every kept entry in order, with one `(DROPPED_KIND, t)` where entries were dropped."""
        yield from self.head
        if self.dropped:
            yield (DROPPED_KIND, self.dropped_at)
        yield from self.tail

    def __len__(self) -> int:
        return len(self.head) + len(self.tail) + (1 if self.dropped else 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where and how to connect. `key` is the plain credential; never log or print this object."""

    url: str
    auth: str
    key: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)  # extra upgrade headers (x-goog-user-project)
    model: str  # the setup.model resource, e.g. models/<id>
    setup: Mapping[str, Any] | None = None  # user payload; None: the default production payload
    heartbeat: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnPlan:
    """The client messages of one turn; the last one completes it."""

    messages: Sequence[Mapping[str, Any]]
    pace_seconds: float = 0.0  # spacing of realtime audio chunks (0: as fast as the socket takes them)
    tool_result: Mapping[str, Any] = field(default_factory=lambda: {"status": "ok"})


@dataclass(slots=True)
class Trace:
    """What one conversation measured; mutable while it runs, read by the runner afterwards."""

    phase: Phase = Phase.CONNECT
    marks: dict[str, float] = field(default_factory=dict)
    messages: MessageLog = field(default_factory=MessageLog)  # (kind, monotonic mark)
    audio: list[wire.AudioChunk] = field(default_factory=list)  # kept, up to audio_limit decoded bytes
    audio_limit: int = 2 * 1024 * 1024
    audio_kept_bytes: int = 0  # charged bytes: decoded PCM, at least _CHUNK_COST a chunk
    audio_dropped_bytes: int = 0  # decoded length of the chunks counted but not kept
    dropped_mimes: set[str] = field(default_factory=set)
    depth: int = wire.DEFAULT_JSON_DEPTH
    integer_digits: int = wire.DEFAULT_INTEGER_DIGITS
    transcript: list[str] = field(default_factory=list)  # kept up to TEXT_CHARS
    text: list[str] = field(default_factory=list)  # kept up to TEXT_CHARS
    transcript_chars: int = 0
    text_chars: int = 0
    usage: wire.Usage | None = None
    handle: str = ""  # newest usable newHandle
    tool_calls: int = 0
    ending: Ending | None = None
    go_away_deadline: float | None = None
    reconnects: int = 0

    @classmethod
    def within(cls, limits: Limits) -> Trace:
        """An empty trace bounded by `limits`."""
        return cls(
            messages=MessageLog(keep=limits.messages_kept),
            audio_limit=limits.audio_bytes,
            depth=limits.json_depth,
            integer_digits=limits.integer_digits,
        )

    def mark(self, name: str, at: float) -> None:
        self.marks.setdefault(name, at)

    def add_transcript(self, piece: str) -> None:
        if self.transcript_chars < TEXT_CHARS:
            kept = piece[: TEXT_CHARS - self.transcript_chars]
            self.transcript.append(kept)
            self.transcript_chars += len(kept)

    def add_text(self, piece: str) -> None:
        if self.text_chars < TEXT_CHARS:
            kept = piece[: TEXT_CHARS - self.text_chars]
            self.text.append(kept)
            self.text_chars += len(kept)

    def add_audio(self, chunks: Sequence[wire.AudioChunk]) -> None:
        """Keep chunks while under the audio limit; past it count their decoded length and MIME types.

        A kept chunk is charged at least `_CHUNK_COST` bytes: a flood of empty or undecodable chunks costs
        memory for every object kept, and is bounded by the same limit as real audio."""
        for chunk in chunks:
            size = len(chunk.pcm) if chunk.pcm is not None else 0
            cost = max(size, _CHUNK_COST)
            if self.audio_kept_bytes + cost <= self.audio_limit:
                self.audio.append(chunk)
                self.audio_kept_bytes += cost
                continue
            self.audio_dropped_bytes += size
            if len(self.dropped_mimes) < _DROPPED_MIMES:
                self.dropped_mimes.add(chunk.mime_type[:100])


async def converse(
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    plan: TurnPlan,
    *,
    budgets: Budgets,
    limits: Limits,
    clock: Clock,
    trace: Trace,
    handle: str = "",
) -> None:
    """Run one turn on a new session (resumed with `handle` if given); raises LiveError on failure."""
    session = await _open(
        http, endpoint, budgets=budgets, limits=limits, clock=clock, trace=trace, handle=handle
    )
    closed = False
    try:
        if trace.go_away_deadline is not None:
            # goAway before the turn: close, then resume with the newest handle within timeLeft.
            await session.close(1000, "goAway", goaway=True)
            closed = True
            if session.ending is not None:
                trace.messages.append("reconnect", session.ending.at)
            trace.go_away_deadline = None
            trace.reconnects += 1
            session = await _open(
                http,
                endpoint,
                budgets=budgets,
                limits=limits,
                clock=clock,
                trace=trace,
                handle=trace.handle or handle,
            )
            closed = False
        await _turn(session, plan, budgets, clock, trace)
    except Exception:
        trace.mark("failed", clock.monotonic())  # detection, before our close handshake adds its wait
        raise
    finally:
        if not closed:  # a failed reconnect has closed and recorded its own session
            await _close(session, trace)


async def _close(session: LiveSession, trace: Trace) -> None:
    await session.close()
    trace.ending = session.ending
    if session.ending is not None:
        trace.messages.append("close", session.ending.at)


async def _open(
    http: aiohttp.ClientSession,
    endpoint: Endpoint,
    *,
    budgets: Budgets,
    limits: Limits,
    clock: Clock,
    trace: Trace,
    handle: str,
) -> LiveSession:
    trace.phase = Phase.CONNECT
    trace.mark("connect_start", clock.monotonic())
    try:
        async with asyncio.timeout(budgets.connect):
            session = await LiveSession.open(
                http, endpoint.url, auth=endpoint.auth, key=endpoint.key, clock=clock,
                heartbeat=endpoint.heartbeat, extra_headers=endpoint.headers,
                frame_bytes=limits.frame_bytes, close_seconds=limits.close_seconds,
            )  # fmt: skip
    except TimeoutError:
        raise PhaseTimeout("connect", budgets.connect) from None
    trace.mark("connected", clock.monotonic())
    trace.phase = Phase.SETUP
    try:
        setup = wire.setup_message(endpoint.model, endpoint.setup, handle=handle or None)
        # One budget for the send (a server that never reads fills our send buffer) and the answer.
        deadline = clock.monotonic() + budgets.setup
        try:
            async with asyncio.timeout(budgets.setup):
                await session.send(setup)
        except TimeoutError:
            raise PhaseTimeout("setup", budgets.setup) from None
        trace.mark("setup_sent", clock.monotonic())
        while True:
            message = await _next(session, trace, clock, deadline, budget="setup", seconds=budgets.setup)
            if message.content is not None or message.function_calls:
                raise ProtocolError(f"{message.kinds[0]} before setupComplete")
            if message.setup_complete:
                trace.mark("setup_complete", trace.messages.last_at)
                break
        while session.ready():  # frames that came with setupComplete (a goAway, say) count before the turn
            await _next(session, trace, clock, None, budget="setup", seconds=budgets.setup)
    except BaseException as error:
        if isinstance(error, Exception):
            trace.mark("failed", clock.monotonic())  # detection, before our close handshake adds its wait
        await _close(session, trace)
        raise
    return session


async def _send_turn(
    session: LiveSession, plan: TurnPlan, budgets: Budgets, clock: Clock, trace: Trace
) -> float:
    """Send the turn's messages (paced); the turn's deadline for its answers."""
    trace.phase = Phase.FIRST_RESPONSE
    start = clock.monotonic()
    trace.mark("turn_start", start)
    pacing = len(plan.messages) * plan.pace_seconds
    try:
        async with asyncio.timeout(budgets.turn + pacing):
            for index, outgoing in enumerate(plan.messages):
                if plan.pace_seconds and index:
                    # Read while waiting: a close or an early answer is marked when it comes.
                    await session.listen(start + index * plan.pace_seconds)
                await session.send(outgoing)
    except TimeoutError:
        raise PhaseTimeout("first_response", budgets.turn) from None
    sent = clock.monotonic()
    trace.mark("turn_sent", sent)
    # Normally `sent + turn`; a send held up by a server that does not read cannot add a second budget.
    return min(sent + budgets.turn, start + budgets.turn + pacing)


async def _turn(session: LiveSession, plan: TurnPlan, budgets: Budgets, clock: Clock, trace: Trace) -> None:
    turn_deadline = await _send_turn(session, plan, budgets, clock, trace)
    phase_start = trace.marks["turn_sent"]
    while True:
        if trace.phase is Phase.STREAMING:
            deadline, budget = turn_deadline, "turn"
        else:
            deadline = min(turn_deadline, phase_start + budgets.first_response)
            budget = "first_response" if deadline < turn_deadline else "turn"
        message = await _next(session, trace, clock, deadline, budget=budget, seconds=deadline - phase_start)
        if message.setup_complete:
            raise ProtocolError("setupComplete during the turn")
        if message.function_calls:
            trace.phase = Phase.TOOL_CALL
            trace.mark("tool_call", trace.messages.last_at)
            try:
                async with asyncio.timeout(max(0.0, turn_deadline - clock.monotonic())):
                    for call in message.function_calls:
                        trace.tool_calls += 1
                        await session.send(wire.tool_response(call.id, call.name, plan.tool_result))
            except TimeoutError:
                raise PhaseTimeout("turn", budgets.turn) from None
            phase_start = clock.monotonic()
            trace.mark("tool_response_sent", phase_start)
        content = message.content
        if content is None:
            continue
        at = trace.messages.last_at
        if content.audio or content.text or content.output_transcript or content.turn_complete:
            trace.mark("first_content", at)
            trace.phase = Phase.STREAMING
        if content.audio:
            trace.mark("first_audio", at)
            trace.add_audio(content.audio)
        if content.output_transcript:
            trace.add_transcript(content.output_transcript)
        if content.text:
            trace.add_text(content.text)
        if content.turn_complete:
            trace.mark("turn_complete", at)
            return


async def _next(
    session: LiveSession,
    trace: Trace,
    clock: Clock,
    deadline: float | None,
    *,
    budget: str,
    seconds: float,
) -> wire.ServerMessage:
    """The next parsed server message, recorded in the trace; PhaseTimeout or ClientClosed at the deadline."""
    goaway = trace.go_away_deadline
    by_goaway = goaway is not None and (deadline is None or goaway <= deadline)
    limit = goaway if by_goaway else deadline
    try:
        at, data = await session.receive(limit)
    except TimeoutError:
        if by_goaway:
            await session.close(1000, "goAway", goaway=True)
            raise ClientClosed(1000, "closed before the goAway deadline", goaway=True) from None
        raise PhaseTimeout(budget, seconds) from None
    message = wire.parse_server_frame(data, depth=trace.depth, integer_digits=trace.integer_digits)
    for kind in message.kinds:
        trace.messages.append(kind, at)
    if message.new_handle:
        trace.handle = message.new_handle
    if message.usage is not None:
        trace.usage = message.usage
    if message.go_away_seconds is not None:
        margin = min(_GOAWAY_MARGIN_SECONDS, message.go_away_seconds / 4)
        trace.go_away_deadline = at + message.go_away_seconds - margin
    return message
