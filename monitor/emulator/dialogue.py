"""The session after setup: client input handled while the model answers, as the service does it.

Input is read concurrently with generation. A `clientContent` with `turnComplete: true` interrupts the answer
in progress (the 3.1 and 3.8 model pages: "unconditionally"); user activity (an `activityStart`, speech the
detector hears, `realtimeInput.text`) interrupts it when `activityHandling` is START_OF_ACTIVITY_INTERRUPTS
(the default) and queues behind it with NO_INTERRUPTION. An interrupted answer ends `interrupted: true`;
the rest is dropped and the new turn is answered. A NON_BLOCKING function's result is answered as its own
turn, scheduled by `scheduling` (WHEN_IDLE by default; INTERRUPT; SILENT adds nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Final

from monitor.emulator.audio_input import UnsupportedAudioError
from monitor.emulator.conversation import Ending, Reply, ToolCalls, Turn, TurnKind, respond
from monitor.emulator.models import ModelCapabilities
from monitor.emulator.reasons import REASONS
from monitor.emulator.utterance import OPAQUE_END_OF_SPEECH, Activity, Utterances
from monitor.emulator.vad import VadSettings
from monitor.emulator.wire import ServerWire

__all__ = ["Dialogue", "SessionEndedError", "audio_offset"]

ENDED: Final[dict[str, Any]] = {"__ended__": True}  # put in the inbox when the answer side ended the session
_log = logging.getLogger("monitor.emulator")
_MAX_PENDING_PARTS: Final = 1000  # text parts kept while clientContent waits for turnComplete


class SessionEndedError(Exception):
    """The session is over (closed, dropped or refused); unwinds the conversation task."""


def audio_offset(seconds: float) -> str:
    """A protobuf Duration in JSON, millisecond precision: "0s", "1.240s"."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis / 1000:.3f}s"


class Dialogue:
    """One session after setup: reads its input (`run`) while a worker answers its turns one at a time."""

    def __init__(
        self,
        *,
        wire: ServerWire,
        caps: ModelCapabilities,
        setup: dict[str, Any],
        inbox: asyncio.Queue[dict[str, Any]],
        make_reply: Callable[[asyncio.Event, ToolCalls], Reply],
        vertex: bool = False,
    ) -> None:
        self.wire = wire
        self.caps = caps
        self.setup = setup
        self.inbox = inbox
        self.make_reply = make_reply
        config = setup.get("realtimeInputConfig") or {}
        detection = config.get("automaticActivityDetection") or {}
        self.utterances = Utterances(
            manual=bool(detection.get("disabled")), settings=VadSettings.from_setup(detection, vertex=vertex)
        )
        self.activity_interrupts = config.get("activityHandling") != "NO_INTERRUPTION"
        self.history_allowed = bool((setup.get("historyConfig") or {}).get("initialHistoryInClientContent"))
        self.tool_calls = ToolCalls()
        self.turns: asyncio.Queue[Turn] = asyncio.Queue()
        self.answering: asyncio.Event | None = None  # the interruption flag of the answer in progress
        self.answered = False
        self._texts: list[str] = []

    async def run(self) -> None:
        """Handle input until the session ends; raises SessionEndedError."""
        worker = asyncio.create_task(self._answer_turns())
        try:
            while True:
                gap = OPAQUE_END_OF_SPEECH if self.utterances.opaque_open else None
                try:
                    message = await asyncio.wait_for(self.inbox.get(), gap)
                except TimeoutError:
                    message = {"realtimeInput": {"audioStreamEnd": True}}
                if message is ENDED:
                    raise SessionEndedError()
                await self._handle(message)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def _refuse(self, code: int, reason: str) -> SessionEndedError:
        await self.wire.close(code, reason)
        return SessionEndedError()

    async def _handle(self, message: dict[str, Any]) -> None:
        if "setup" in message:
            raise await self._refuse(1007, REASONS["invalid_argument"])
        if "toolResponse" in message:
            await self._tool_response(message["toolResponse"])
        elif (content := message.get("clientContent")) is not None:
            await self._client_content(content)
        elif (realtime := message.get("realtimeInput")) is not None:
            await self._realtime(realtime)

    async def _client_content(self, content: dict[str, Any]) -> None:
        history = self.history_allowed and not self.answered
        if not self.caps.client_content and not history:
            raise await self._refuse(1007, REASONS["invalid_argument"])
        self._texts = [*self._texts, *_texts(content)][-_MAX_PENDING_PARTS:]
        if not content.get("turnComplete"):
            return  # the service waits for more content
        if history and not self.caps.client_content:
            self._texts = []  # initial history seeds the context and is not answered
            return
        turn, self._texts = Turn(TurnKind.TEXT, " ".join(self._texts)), []
        self._submit(turn, interrupt=True)

    async def _realtime(self, realtime: dict[str, Any]) -> None:
        if "mediaChunks" in realtime:
            raise await self._refuse(1007, REASONS["media_chunks_deprecated"])
        activities: list[Activity] = []
        if "activityStart" in realtime:
            activities.append(self.utterances.activity_start())
        if "text" in realtime:
            activities.append(self.utterances.text(str(realtime["text"] or "")))
        if (audio := realtime.get("audio")) is not None:
            try:
                activities.append(self.utterances.audio(audio))
            except UnsupportedAudioError as error:
                raise await self._refuse(1007, error.reason) from None
        if "activityEnd" in realtime:
            activities.append(self.utterances.activity_end())
        if realtime.get("audioStreamEnd"):
            activities.append(self.utterances.stream_end())
        for activity in activities:
            await self._apply(activity)

    async def _apply(self, activity: Activity) -> None:
        if activity.starts_activity and self.activity_interrupts:
            self._interrupt()
        for event in activity.events:
            if isinstance(event, Turn):
                self._submit(event, interrupt=False)
                continue
            heard_speech = event.type == "ACTIVITY_START" and not self.utterances.manual
            if heard_speech and self.activity_interrupts:
                self._interrupt()  # barge-in: the detector heard the user start speaking
            if self.caps.voice_activity:
                offset = audio_offset(event.offset)
                await self.wire.send({"voiceActivity": {"type": event.type, "audioOffset": offset}})

    async def _tool_response(self, response: dict[str, Any]) -> None:
        answers = response.get("functionResponses") or []
        blocking = next(iter(self.tool_calls.blocking.values()), None)
        if blocking is not None and not blocking.done():
            blocking.set_result(response)  # the answer checks the id
            return
        ids = [str(answer.get("id") or "") for answer in answers]
        if not ids or any(i not in self.tool_calls.non_blocking for i in ids):
            raise await self._refuse(1008, REASONS["entity_not_found"])
        for answer in answers:
            self.tool_calls.non_blocking.discard(str(answer.get("id")))
            scheduling = answer.get("scheduling") or "WHEN_IDLE"
            if scheduling == "SILENT":
                continue
            self._submit(
                Turn(TurnKind.TOOL_RESULT, str(answer.get("name") or "")), interrupt=scheduling == "INTERRUPT"
            )

    def _interrupt(self) -> None:
        if self.answering is not None:
            self.answering.set()
        # Turns not yet begun are superseded too, except a NON_BLOCKING function's result, which is still
        # owed to the conversation.
        waiting = [self.turns.get_nowait() for _ in range(self.turns.qsize())]
        for turn in waiting:
            if turn.kind is TurnKind.TOOL_RESULT:
                self.turns.put_nowait(turn)

    def _submit(self, turn: Turn, *, interrupt: bool) -> None:
        if interrupt:
            self._interrupt()
        self.answered = True
        self.turns.put_nowait(turn)

    async def _answer_turns(self) -> None:
        while True:
            turn = await self.turns.get()
            interruption = asyncio.Event()
            self.answering = interruption
            try:
                ending = await respond(self.make_reply(interruption, self.tool_calls), turn)
            except Exception:  # noqa: BLE001 - an emulator bug in an answer becomes the service's 1011
                _log.exception("emulator answer failed")
                await self.wire.close(1011, REASONS["internal"])
                ending = Ending.SESSION_ENDED
            finally:
                self.answering = None
            if ending is Ending.SESSION_ENDED:
                # A full inbox is fine: the connection is closed or dropped, so the reader ends the session.
                with suppress(asyncio.QueueFull):
                    self.inbox.put_nowait(ENDED)
                return


def _texts(content: dict[str, Any]) -> list[str]:
    """The user's words in a clientContent; `model` turns are history (a resumed client re-syncs them)."""
    return [
        str(part["text"])
        for turn in content.get("turns") or []
        if turn.get("role") in (None, "", "user")
        for part in turn.get("parts") or []
        if part.get("text")
    ]
