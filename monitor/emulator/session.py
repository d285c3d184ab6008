"""One emulated connection after the upgrade: the reader loop, setup checks and turn assembly.

The reader keeps reading (and answering pings, late when a slow_pong fault says so) while the conversation
task answers: a hang therefore still notices the client leaving. Setup is checked in the service's order:
credentials, model, response modality, resumption handle; each refusal is the service's close (section 5.2).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from aiohttp import WSMsgType, web

from monitor.emulator.access import admit
from monitor.emulator.conversation import Reply, Turn, respond
from monitor.emulator.faults import ConnectionFaults, Strike, draw_faults, send_goaway
from monitor.emulator.models import ModelCapabilities, lookup_model
from monitor.emulator.paths import Api, Credential, Endpoint
from monitor.emulator.reasons import (
    REASONS,
    model_not_found,
    publisher_model_not_found,
    text_modality_unsupported,
)
from monitor.emulator.resumption import Rejection
from monitor.emulator.scenarios import FaultKind, Location
from monitor.emulator.schema import ClientMessageError, normalise
from monitor.emulator.state import EmulatorState
from monitor.emulator.wire import ServerWire

__all__ = ["Session"]

_AAD_END_OF_SPEECH = 0.8  # seconds without audio that end an utterance under automatic activity detection


class _SessionEndedError(Exception):
    """The session is over (closed, dropped or refused); unwinds the conversation task."""


class Session:
    def __init__(
        self, state: EmulatorState, wire: ServerWire, endpoint: Endpoint, credential: Credential
    ) -> None:
        self.state = state
        self.wire = wire
        self.endpoint = endpoint
        self.credential = credential
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.faults = ConnectionFaults()
        self.tasks: set[asyncio.Task[None]] = set()
        self.session_key: str | None = None
        self.setup: dict[str, Any] = {}

    async def run(self, ws: web.WebSocketResponse) -> None:
        conversation = asyncio.create_task(self._converse())
        limit = asyncio.create_task(self._connection_limit())
        try:
            await self._read(ws)
        finally:
            self.wire.ended.set()
            for task in (conversation, limit, *self.tasks):
                task.cancel()
            await asyncio.gather(conversation, limit, *self.tasks, return_exceptions=True)
            if self.session_key is not None:
                self.state.handles.end(self.session_key)

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type is WSMsgType.PING:
                slow = self.faults.has(FaultKind.SLOW_PONG)
                self._background(self.wire.pong(message.data, slow.pong_delay_ms / 1000 if slow else 0.0))
            elif message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    self.inbox.put_nowait(normalise(json.loads(message.data)))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    await self.wire.close(1007, "Invalid JSON payload received. Unexpected token.")
                except ClientMessageError as error:
                    await self.wire.close(1007, error.reason)
            if self.wire.ended.is_set():
                break

    def _background(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connection_limit(self) -> None:
        scenario = self.state.scenario
        time_left = min(scenario.goaway_time_left_seconds, scenario.connection_limit_seconds)
        await asyncio.sleep(scenario.connection_limit_seconds - time_left)
        await send_goaway(self.wire, time_left, self.tasks)

    async def _converse(self) -> None:
        try:
            first = await self.inbox.get()
            if "setup" not in first:
                raise await self._refuse(1007, REASONS["invalid_argument"])
            caps = await self._accept_setup(first["setup"])
            await self._turns(caps)
        except _SessionEndedError:
            return

    async def _refuse(self, code: int, reason: str) -> _SessionEndedError:
        await self.wire.close(code, reason)
        return _SessionEndedError()

    async def _accept_setup(self, setup: dict[str, Any]) -> ModelCapabilities:
        admitted = admit(self.state, self.endpoint, self.credential, setup)
        if isinstance(admitted, Rejection):
            raise await self._refuse(admitted.code, admitted.reason)
        self.setup = setup = admitted
        resource = str(setup.get("model") or "")
        if not resource:
            raise await self._refuse(1007, REASONS["invalid_argument"])
        bare, caps = lookup_model(resource, self.endpoint.api, self.state.models)
        if caps is None:
            if self.endpoint.api is Api.VERTEX:
                raise await self._refuse(1008, publisher_model_not_found(resource))
            raise await self._refuse(1008, model_not_found(bare, self.endpoint.version))
        modalities = (setup.get("generationConfig") or {}).get("responseModalities") or ["AUDIO"]
        if "TEXT" in modalities and not caps.text_modality:
            raise await self._refuse(1007, text_modality_unsupported(bare))
        handle = str((setup.get("sessionResumption") or {}).get("handle") or "")
        if handle:
            resumed = self.state.handles.resume(handle, bare)
            if isinstance(resumed, Rejection):
                raise await self._refuse(resumed.code, resumed.reason)
            self.session_key = resumed
        else:
            self.session_key = self.state.handles.begin(bare)
        self.faults = ConnectionFaults(
            draw_faults(
                self.state.scenario.faults,
                rng=self.state.rng,
                elapsed=self.state.elapsed(),
                now=self.state.clock.now(),
                onset=self.state.onset,
                model=bare,
                resumed=bool(handle),
            )
        )
        strike = self._strike_context()
        if await self.faults.strike(Location.BEFORE_SETUP_COMPLETE, strike):
            raise _SessionEndedError()
        if self.state.latency_scale > 0:
            low, high = caps.latency.setup_complete
            await asyncio.sleep(self.state.rng.uniform(low, high) * self.state.latency_scale / 1000)
        complete: dict[str, Any] = {}
        if self.endpoint.api is Api.VERTEX:
            complete["sessionId"] = self.session_key
        await self.wire.send({"setupComplete": complete})
        if await self.faults.strike(Location.AFTER_SETUP_COMPLETE, strike):
            raise _SessionEndedError()
        return caps

    def _strike_context(self) -> Strike:
        return Strike(self.wire, self.state.rng, self.state.latency_scale, self._issue_handle, self.tasks)

    async def _issue_handle(self) -> None:
        if self.session_key is not None:
            handle = self.state.handles.issue(self.session_key)
            await self.wire.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})

    async def _turns(self, caps: ModelCapabilities) -> None:
        detection = (self.setup.get("realtimeInputConfig") or {}).get("automaticActivityDetection") or {}
        utterance = _Utterance(manual=bool(detection.get("disabled")))
        history_allowed = bool((self.setup.get("historyConfig") or {}).get("initialHistoryInClientContent"))
        texts: list[str] = []
        answered = False
        while True:
            try:
                message = await asyncio.wait_for(
                    self.inbox.get(), _AAD_END_OF_SPEECH if utterance.awaiting_speech_end else None
                )
            except TimeoutError:
                message = {"realtimeInput": {"audioStreamEnd": True}}
            turn: Turn | None = None
            if "setup" in message:
                raise await self._refuse(1007, REASONS["invalid_argument"])
            if "toolResponse" in message:
                raise await self._refuse(1008, REASONS["entity_not_found"])
            if content := message.get("clientContent"):
                if not caps.client_content and not (history_allowed and not answered):
                    raise await self._refuse(1007, REASONS["invalid_argument"])
                texts.extend(_texts(content))
                if content.get("turnComplete") and not (history_allowed and not caps.client_content):
                    turn, texts = Turn("text", " ".join(texts)), []
            elif realtime := message.get("realtimeInput"):
                if "mediaChunks" in realtime:
                    raise await self._refuse(1007, REASONS["media_chunks_deprecated"])
                turn, activity = utterance.take(realtime)
                if activity and caps.voice_activity:
                    await self.wire.send({"voiceActivity": {"type": activity}})
            if turn is not None:
                answered = True
                if await respond(self._reply(caps), turn):
                    raise _SessionEndedError()

    def _reply(self, caps: ModelCapabilities) -> Reply:
        return Reply(
            wire=self.wire,
            caps=caps,
            api=self.endpoint.api,
            setup=self.setup,
            faults=self.faults,
            strike=self._strike_context(),
            rng=self.state.rng,
            latency_scale=self.state.latency_scale,
            issue_handle=self._issue_handle,
            await_tool_response=self._await_tool_response,
        )

    async def _await_tool_response(self) -> dict[str, Any] | None:
        """The next toolResponse; other input meanwhile is consumed without effect."""
        while True:
            message = await self.inbox.get()
            if "toolResponse" in message:
                return dict(message["toolResponse"])
            if "setup" in message:
                await self.wire.close(1007, REASONS["invalid_argument"])
                return None


class _Utterance:
    """Realtime input gathered into a turn: between activityStart and activityEnd (manual activity), or
    until audioStreamEnd or trailing silence (automatic detection). Text outside an activity is a turn."""

    def __init__(self, *, manual: bool) -> None:
        self.manual = manual
        self.in_activity = False
        self.audio_bytes = 0
        self.texts: list[str] = []

    @property
    def awaiting_speech_end(self) -> bool:
        return not self.manual and self.audio_bytes > 0

    def take(self, realtime: dict[str, Any]) -> tuple[Turn | None, str | None]:
        """The turn this input completes (if any) and the voiceActivity it causes (if any)."""
        activity: str | None = None
        if "activityStart" in realtime and self.manual:
            self.in_activity, self.audio_bytes, self.texts = True, 0, []
        if "text" in realtime:
            if not (self.manual and self.in_activity):
                return Turn("text", str(realtime["text"])), None
            self.texts.append(str(realtime["text"]))
        if (audio := realtime.get("audio")) and (self.in_activity or not self.manual):
            if self.audio_bytes == 0:
                activity = "ACTIVITY_START"
            self.audio_bytes += _decoded_length(audio.get("data"))
        ends = ("activityEnd" in realtime and self.manual and self.in_activity) or (
            realtime.get("audioStreamEnd") and self.awaiting_speech_end
        )
        if not ends:
            return None, activity
        text = " ".join(self.texts)
        kind = "audio" if self.audio_bytes else "text"
        turn = Turn(kind, text, self.audio_bytes) if self.audio_bytes or text else None
        activity = "ACTIVITY_END" if self.audio_bytes else activity
        self.in_activity, self.audio_bytes, self.texts = False, 0, []
        return turn, activity


def _texts(content: dict[str, Any]) -> list[str]:
    return [
        str(part["text"])
        for turn in content.get("turns") or []
        for part in turn.get("parts") or []
        if part.get("text")
    ]


def _decoded_length(data: Any) -> int:
    try:
        return len(base64.b64decode(str(data or ""), validate=False))
    except (binascii.Error, ValueError):
        return 0
