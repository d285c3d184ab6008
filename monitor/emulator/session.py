"""One emulated connection after the upgrade: the reader loop and the setup checks.

The reader keeps reading (and answering pings, late when a slow_pong fault says so) while the conversation
task answers: a hang therefore still notices the client leaving. Setup is checked in the service's order:
credentials, model, response modality, the model's payload rules, resumption handle; each refusal is the
service's close. After setup the dialogue (`dialogue.py`) handles input while the model answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from monitor.emulator.access import admit
from monitor.emulator.conversation import Reply, ToolCalls
from monitor.emulator.dialogue import Dialogue, SessionEndedError
from monitor.emulator.faults import ConnectionFaults, Strike, draw_faults, send_goaway
from monitor.emulator.models import ModelCapabilities, lookup_model, setup_refusal
from monitor.emulator.paths import Api, Credential, Endpoint
from monitor.emulator.reasons import (
    REASONS,
    model_not_found,
    publisher_model_not_found,
    text_modality_unsupported,
)
from monitor.emulator.resumption import Rejection
from monitor.emulator.scenarios import FaultKind, Location
from monitor.emulator.schema import GEMINI_PACKAGE, VERTEX_PACKAGE, ClientMessageError, normalise
from monitor.emulator.state import EmulatorState
from monitor.emulator.wire import ServerWire

__all__ = ["Session"]

# Faults that strike while the model generates: a `handle_before` for them is issued at the last moment the
# session was resumable (right after setupComplete), never mid-generation, where the service says
# `resumable: false`.
_GENERATING = frozenset({Location.AFTER_RESUMPTION_UPDATE, Location.MID_STREAM, Location.AFTER_TOOL_RESPONSE})
_SessionEndedError = SessionEndedError
_INBOX_LIMIT = 256
_log = logging.getLogger("monitor.emulator")


class Session:
    def __init__(
        self, state: EmulatorState, wire: ServerWire, endpoint: Endpoint, credential: Credential
    ) -> None:
        self.state = state
        self.wire = wire
        self.endpoint = endpoint
        self.credential = credential
        # Bounded: a client that sends faster than the emulator reads is held back by TCP, not by memory.
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_INBOX_LIMIT)
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
        package = VERTEX_PACKAGE if self.endpoint.api is Api.VERTEX else GEMINI_PACKAGE
        async for message in ws:
            if message.type is WSMsgType.PING:
                slow = self.faults.has(FaultKind.SLOW_PONG)
                self._background(self.wire.pong(message.data, slow.pong_delay_ms / 1000 if slow else 0.0))
            elif message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    await self.inbox.put(normalise(json.loads(message.data), package=package))
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                    await self.wire.close(1007, "Invalid JSON payload received. Unexpected token.")
                except ClientMessageError as error:
                    await self.wire.close(1007, error.reason)
                except Exception:  # noqa: BLE001 - an emulator bug reading a frame becomes a close, not a hang
                    _log.exception("emulator failed to read a client frame")
                    await self.wire.close(1011, REASONS["internal"])
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
        except Exception:  # noqa: BLE001 - the one boundary where an emulator bug becomes a close
            # An emulator bug must not leave the client hanging: it gets the service's generic 1011.
            _log.exception("emulator session failed")
            await self.wire.close(1011, REASONS["internal"])

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
        if (refusal := setup_refusal(setup, caps, bare)) is not None:
            raise await self._refuse(1007, refusal)
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
        if any(f.handle_before and f.location in _GENERATING for f in self.faults.faults):
            await self._issue_handle()
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
        def reply(interruption: asyncio.Event, tool_calls: ToolCalls) -> Reply:
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
                tool_calls=tool_calls,
                interruption=interruption,
            )

        dialogue = Dialogue(
            wire=self.wire,
            caps=caps,
            setup=self.setup,
            inbox=self.inbox,
            make_reply=reply,
            vertex=self.endpoint.api is Api.VERTEX,
        )
        await dialogue.run()
