"""run_probe against real scripted WebSocket servers: outcomes, timings, wire patterns, recovery, goAway."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, RecoveryKind, RecoveryOutcome
from monitor.probe.runner import run_probe
from monitor.probe.target import AuthKind, PhaseBudgets, ProbeTarget
from tests.unit.live.scripted_server import (
    answer_turn,
    drain,
    read_turn,
    receive_json,
    send,
    serve,
    setup_ok,
    speech,
)

CANARY = "CANARY-runner-not-a-real-key-0123"
FAST = PhaseBudgets(connect=2.0, setup=2.0, first_response=2.0, turn=3.0)
SHORT = PhaseBudgets(connect=0.5, setup=0.4, first_response=0.4, turn=0.8)
MODEL = "gemini-2.5-flash-native-audio-latest"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(url: str, **overrides: Any) -> ProbeTarget:
    fields: dict[str, Any] = {
        "endpoint": "gemini-api",
        "url": url,
        "model": MODEL,
        "api_key": SecretStr(CANARY),
        "budgets": FAST,
        "pace_audio": False,
    }
    fields.update(overrides)
    return ProbeTarget(**fields)


def kinds(result: ProbeResult) -> list[str]:
    return [kind for kind, _ in result.messages]


def assert_no_canary(result: ProbeResult) -> None:
    assert CANARY not in json.dumps(result.to_record())


async def healthy(ws: web.WebSocketResponse, request: web.Request) -> None:
    await setup_ok(ws)
    await read_turn(ws)
    await answer_turn(ws)
    await drain(ws)


class Recorder:
    """Scripts that play a different exchange per connection and remember every setup they received."""

    def __init__(self, *scripts: Any) -> None:
        self.scripts = list(scripts)
        self.setups: list[dict[str, Any]] = []
        self.turns: list[list[dict[str, Any]]] = []
        self.connections = 0

    async def __call__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        await script(self, ws)


async def ok_turn(rec: Recorder, ws: web.WebSocketResponse) -> None:
    rec.setups.append((await setup_ok(ws, handle="h-2"))["setup"])
    rec.turns.append(await read_turn(ws))
    await answer_turn(ws)
    await drain(ws)


async def incident_000(rec: Recorder, ws: web.WebSocketResponse) -> None:
    """setupComplete, empty sessionResumptionUpdate, turn, then 1011 with no content (incident 000)."""
    rec.setups.append((await setup_ok(ws, handle=""))["setup"])
    rec.turns.append(await read_turn(ws))
    await asyncio.sleep(0.05)
    await ws.close(code=1011, message=b"Internal error encountered.")


def _closing(code: int, reason: bytes) -> Any:
    async def close_after_turn(rec: Recorder, ws: web.WebSocketResponse) -> None:
        await setup_ok(ws)
        await read_turn(ws)
        await ws.close(code=code, message=reason)

    return close_after_turn


class TestSuccess:
    async def test_text_turn_ok_with_every_timing_and_the_wire_pattern(
        self, http: aiohttp.ClientSession
    ) -> None:
        rec = Recorder(ok_turn)
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http, run_id="r1")
        assert result.outcome is Outcome.OK
        assert result.cause is Cause.NONE
        assert result.phase is Phase.NONE
        assert result.run_id == "r1"
        assert result.code is None
        assert result.recovery is None
        assert set(result.timings) == {
            TimingPhase.CONNECT, TimingPhase.SETUP, TimingPhase.FIRST_RESPONSE, TimingPhase.FIRST_AUDIO,
            TimingPhase.TURN,
        }  # fmt: skip
        t = result.timings
        assert 0 < t[TimingPhase.FIRST_RESPONSE] <= t[TimingPhase.FIRST_AUDIO] <= t[TimingPhase.TURN] < 1
        assert kinds(result)[:3] == ["setupComplete", "sessionResumptionUpdate", "sessionResumptionUpdate"]
        assert kinds(result)[-4:] == [
            "serverContent.generationComplete", "serverContent.turnComplete", "usageMetadata", "close",
        ]  # fmt: skip
        assert result.messages[0][1] < 0 < result.messages[3][1]  # negative before the turn was sent
        assert result.close_initiator == "client"
        assert result.close_reason == ""
        assert result.audio_seconds == pytest.approx(0.6)
        assert (result.prompt_tokens, result.response_tokens) == (509, 11)
        assert rec.setups[0]["model"] == f"models/{MODEL}"
        assert rec.turns[0] == [
            {"clientContent": {"turns": [{"role": "user", "parts": [{"text": rec.turns[0][0]["clientContent"]
             ["turns"][0]["parts"][0]["text"]}]}], "turnComplete": True}}
        ]  # fmt: skip
        assert_no_canary(result)

    async def test_audio_turn_streams_paced_100ms_chunks_between_activity_signals(
        self, http: aiohttp.ClientSession
    ) -> None:
        """Chunks are 3200 bytes of 16 kHz PCM, sent in real time: the upload lasts as long as the speech."""
        arrivals: list[float] = []

        async def audio(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            loop = asyncio.get_running_loop()
            turn: list[dict[str, Any]] = []
            while not turn or "activityEnd" not in turn[-1]["realtimeInput"]:
                message = await receive_json(ws)
                assert message is not None
                arrivals.append(loop.time())
                turn.append(message)
            rec.turns.append(turn)
            await answer_turn(ws)
            await drain(ws)

        rec = Recorder(audio)
        async with serve(rec) as url:
            result = await run_probe(target(url, pace_audio=True), ProbeKind.AUDIO, http=http)
        assert result.outcome is Outcome.OK
        turn = rec.turns[0]
        assert turn[0] == {"realtimeInput": {"activityStart": {}}}
        chunks = [m["realtimeInput"]["audio"] for m in turn[1:-1]]
        assert all(c["mimeType"] == "audio/pcm;rate=16000" for c in chunks)
        assert {len(c["data"]) for c in chunks} == {len("A" * 4268)}  # base64 of 3200 bytes
        # Real time: never faster than the speech; a loaded machine may only make it later.
        assert 0.1 * (len(turn) - 1) - 0.05 <= arrivals[-1] - arrivals[0] <= 0.1 * (len(turn) - 1) + 0.5

    async def test_tool_turn_answers_the_call_with_its_id_and_name(self, http: aiohttp.ClientSession) -> None:
        responses: list[dict[str, Any]] = []

        async def tool(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            await read_turn(ws)
            await send(
                ws, {"toolCall": {"functionCalls": [{"id": "fc-7", "name": "get_probe_status", "args": {}}]}}
            )
            answer = await receive_json(ws)
            assert answer is not None
            responses.append(answer)
            await answer_turn(ws)
            await drain(ws)

        async with serve(Recorder(tool)) as url:
            result = await run_probe(target(url), ProbeKind.TOOL, http=http)
        assert result.outcome is Outcome.OK
        response = responses[0]["toolResponse"]["functionResponses"][0]
        assert (response["id"], response["name"]) == ("fc-7", "get_probe_status")
        assert "toolCall" in kinds(result)


class TestServerClose:
    async def test_close_during_the_audio_upload(self, http: aiohttp.ClientSession) -> None:
        """A close while we are still streaming the prompt is the server's close, not a send error."""

        async def close_mid_upload(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            for _ in range(3):
                await receive_json(ws)
            await ws.close(code=1011, message=b"Internal error encountered.")

        async with serve(Recorder(close_mid_upload)) as url:
            result = await run_probe(target(url, pace_audio=True, recover=False), ProbeKind.AUDIO, http=http)
        assert (result.outcome, result.code, result.phase) == (
            Outcome.SERVER_CLOSE,
            1011,
            Phase.FIRST_RESPONSE,
        )
        assert result.close_initiator == "server"
        assert result.timings[TimingPhase.FAILURE] < 1.0  # from connect start: the turn was never sent

    async def test_incident_000_pattern_recovers_fresh_without_a_handle(
        self, http: aiohttp.ClientSession
    ) -> None:
        """1011 after the empty update: server_close/internal in first_response; recovery is a fresh session
        that succeeds, and the failed turn stays failed."""
        rec = Recorder(incident_000, ok_turn)
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause, result.code, result.phase) == (
            Outcome.SERVER_CLOSE, Cause.INTERNAL, 1011, Phase.FIRST_RESPONSE,
        )  # fmt: skip
        assert result.close_reason == "Internal error encountered."
        assert result.close_initiator == "server"
        assert kinds(result) == ["setupComplete", "sessionResumptionUpdate", "close"]
        assert result.messages[-1][1] > 0.04
        assert TimingPhase.FIRST_RESPONSE not in result.timings
        assert TimingPhase.TURN not in result.timings
        assert result.timings[TimingPhase.FAILURE] == pytest.approx(result.messages[-1][1], abs=1e-6)
        assert result.recovery is not None
        assert (result.recovery.kind, result.recovery.outcome) == (RecoveryKind.FRESH, RecoveryOutcome.OK)
        assert "sessionResumption" in rec.setups[1]
        assert rec.setups[1]["sessionResumption"] == {}
        assert not result.ok
        assert_no_canary(result)

    async def test_mid_stream_1011_resumes_with_the_newest_handle(self, http: aiohttp.ClientSession) -> None:
        async def mid_stream(rec: Recorder, ws: web.WebSocketResponse) -> None:
            rec.setups.append((await setup_ok(ws, handle="h-1"))["setup"])
            await read_turn(ws)
            await send(ws, {"sessionResumptionUpdate": {"newHandle": "h-newest", "resumable": True}})
            part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": speech()}}
            await send(ws, {"serverContent": {"modelTurn": {"parts": [part]}}})
            await ws.close(code=1011, message=b"The service is currently unavailable.")

        async def resumed_then_fails(rec: Recorder, ws: web.WebSocketResponse) -> None:
            rec.setups.append((await setup_ok(ws))["setup"])
            await read_turn(ws)
            await ws.close(code=1011, message=b"Internal error encountered.")

        rec = Recorder(mid_stream, resumed_then_fails)
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause, result.phase) == (
            Outcome.SERVER_CLOSE, Cause.UNAVAILABLE, Phase.STREAMING,
        )  # fmt: skip
        assert TimingPhase.FIRST_AUDIO in result.timings
        assert TimingPhase.TURN not in result.timings
        assert rec.setups[1]["sessionResumption"] == {"handle": "h-newest"}
        assert result.recovery is not None
        assert (result.recovery.kind, result.recovery.outcome) == (
            RecoveryKind.RESUMED,
            RecoveryOutcome.FAILED,
        )
        assert result.recovery.detail == "server_close internal"

    async def test_no_recovery_after_our_own_quota_or_key_failure(self, http: aiohttp.ClientSession) -> None:
        """A quota close would only burn more quota on an immediate retry: no recovery is attempted."""
        rec = Recorder(_closing(1011, b"Resource has been exhausted (e.g. check quota)."))
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause) == (Outcome.SERVER_CLOSE, Cause.QUOTA)
        assert result.recovery is None
        assert rec.connections == 1

    async def test_setup_close_is_model_not_found_in_setup(self, http: aiohttp.ClientSession) -> None:
        reason = (
            f"models/{MODEL} is not found for API version v1beta, "
            "or is not supported for bidiGenerateContent. "
            "Call ListModels"
        ).encode()[:123]

        async def not_found(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await receive_json(ws)
            await ws.close(code=1008, message=reason)

        async with serve(Recorder(not_found)) as url:
            result = await run_probe(target(url, recover=False), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause, result.code, result.phase) == (
            Outcome.SERVER_CLOSE, Cause.MODEL_NOT_FOUND, 1008, Phase.SETUP,
        )  # fmt: skip
        assert set(result.timings) == {TimingPhase.CONNECT, TimingPhase.FAILURE}
        assert kinds(result) == ["close"]
        assert result.recovery is None

    async def test_close_after_the_tool_response_is_in_the_tool_call_phase(
        self, http: aiohttp.ClientSession
    ) -> None:
        async def tool_then_close(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            await read_turn(ws)
            await send(ws, {"toolCall": {"functionCalls": [{"id": "fc-1", "name": "get_probe_status"}]}})
            await receive_json(ws)
            await ws.close(code=1008, message=b"Requested entity was not found.")

        async with serve(Recorder(tool_then_close)) as url:
            result = await run_probe(target(url, recover=False), ProbeKind.TOOL, http=http)
        assert (result.outcome, result.cause, result.phase) == (
            Outcome.SERVER_CLOSE,
            Cause.UNKNOWN,
            Phase.TOOL_CALL,
        )


async def _reject(status: int) -> Any:
    async def upgrade(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"code": status, "status": "RESOURCE_EXHAUSTED"}}, status=status)

    return upgrade


class TestBeforeTheSession:
    @pytest.mark.parametrize(
        ("status", "cause"),
        [pytest.param(429, Cause.QUOTA, id="429"), pytest.param(403, Cause.AUTH, id="403")],
    )
    async def test_handshake_rejected(self, http: aiohttp.ClientSession, status: int, cause: Cause) -> None:
        """The upgrade's HTTP status is the code; the key (sent in the query here) never leaks."""
        async with serve(healthy, upgrade=await _reject(status)) as url:
            result = await run_probe(
                target(url, auth=AuthKind.QUERY, recover=False), ProbeKind.TEXT, http=http
            )
        assert (result.outcome, result.cause, result.code, result.phase) == (
            Outcome.HANDSHAKE_REJECTED, cause, status, Phase.CONNECT,
        )  # fmt: skip
        assert TimingPhase.FAILURE in result.timings
        assert TimingPhase.CONNECT not in result.timings
        assert_no_canary(result)

    async def test_connect_error(self, http: aiohttp.ClientSession) -> None:
        with socket.socket() as probe_socket:
            probe_socket.bind(("127.0.0.1", 0))
            port = probe_socket.getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ws/x"
        result = await run_probe(target(url, auth=AuthKind.QUERY), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.phase) == (Outcome.CONNECT_ERROR, Phase.CONNECT)
        assert result.recovery is not None
        assert result.recovery.outcome is RecoveryOutcome.FAILED
        assert result.recovery.detail == "connect_error none"
        assert_no_canary(result)

    async def test_connect_timeout(self, http: aiohttp.ClientSession) -> None:
        """A server that accepts TCP but never answers the upgrade runs out the connect budget."""
        server = await asyncio.start_server(lambda r, w: asyncio.sleep(5), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            result = await run_probe(
                target(f"ws://127.0.0.1:{port}/ws/x", budgets=SHORT, recover=False), ProbeKind.TEXT, http=http
            )
        finally:
            server.close()
        assert (result.outcome, result.cause, result.phase) == (
            Outcome.TIMEOUT,
            Cause.DEADLINE,
            Phase.CONNECT,
        )
        assert result.timings[TimingPhase.FAILURE] == pytest.approx(SHORT.connect, abs=0.2)


async def _stall(ws: web.WebSocketResponse) -> None:
    await drain(ws)


class TestClientSide:
    @pytest.mark.parametrize(
        ("script", "phase", "budget"),
        [
            pytest.param("no_setup_complete", Phase.SETUP, SHORT.setup, id="setup"),
            pytest.param("no_answer", Phase.FIRST_RESPONSE, SHORT.first_response, id="first-response"),
            pytest.param("stall_mid_stream", Phase.STREAMING, SHORT.turn, id="streaming"),
        ],
    )
    async def test_phase_budget_timeouts_are_client_closes_not_server_1011s(
        self, http: aiohttp.ClientSession, script: str, phase: Phase, budget: float
    ) -> None:
        async def play(rec: Recorder, ws: web.WebSocketResponse) -> None:
            if script == "no_setup_complete":
                await receive_json(ws)
            else:
                await setup_ok(ws)
                await read_turn(ws)
                if script == "stall_mid_stream":
                    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": speech()}}
                    await send(ws, {"serverContent": {"modelTurn": {"parts": [part]}}})
            await _stall(ws)

        async with serve(Recorder(play)) as url:
            result = await run_probe(target(url, budgets=SHORT, recover=False), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause, result.phase) == (Outcome.TIMEOUT, Cause.DEADLINE, phase)
        assert result.code is None
        assert result.close_initiator == "client"
        assert result.close_reason == ""
        assert result.timings[TimingPhase.FAILURE] == pytest.approx(budget, abs=0.15)
        assert kinds(result)[-1] == "close"

    async def test_keepalive_close_is_client_initiated_never_a_server_1011(
        self, http: aiohttp.ClientSession
    ) -> None:
        """Our own unanswered ping ends the socket as connection_lost/keepalive, initiator client."""

        async def silent(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            await _stall(ws)

        async with serve(Recorder(silent), autoping=False) as url:
            result = await run_probe(
                target(url, keepalive_seconds=0.2, recover=False), ProbeKind.TEXT, http=http
            )
        assert (result.outcome, result.cause, result.code) == (Outcome.CONNECTION_LOST, Cause.KEEPALIVE, 1006)
        assert result.close_initiator == "client"
        assert result.outcome is not Outcome.SERVER_CLOSE

    async def test_abrupt_drop_is_connection_lost(self, http: aiohttp.ClientSession) -> None:
        async def drop(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            await read_turn(ws)
            request_transport = ws._req.transport  # type: ignore[union-attr]
            assert request_transport is not None
            request_transport.abort()

        async with serve(Recorder(drop)) as url:
            result = await run_probe(target(url, recover=False), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.code, result.phase) == (
            Outcome.CONNECTION_LOST,
            1006,
            Phase.FIRST_RESPONSE,
        )
        assert result.close_initiator == ""
        assert kinds(result)[-1] == "close"

    async def test_prober_error_for_our_own_bug_without_recovery(self, http: aiohttp.ClientSession) -> None:
        """A setup payload we cannot serialise is our problem: prober_error, no recovery, no exception."""
        async with serve(Recorder(ok_turn)) as url:
            result = await run_probe(target(url, setup={"bad": object()}), ProbeKind.TEXT, http=http)
        assert result.outcome is Outcome.PROBER_ERROR
        assert result.recovery is None
        assert result.detail.startswith("TypeError")


class TestTurnChecks:
    @pytest.mark.parametrize(
        ("frames", "kind", "outcome", "phase", "detail"),
        [
            pytest.param(
                [{"serverContent": {"turnComplete": True}}],
                ProbeKind.TEXT, Outcome.EMPTY_TURN, Phase.FIRST_RESPONSE, "no audio", id="empty-turn",
            ),
            pytest.param(
                [{"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": "AAAAAAAAAAAAAAAA" * 2000}}]}}},
                 {"serverContent": {"outputTranscription": {"text": "Paris."}, "turnComplete": True}}],
                ProbeKind.TEXT, Outcome.VALIDATION_FAILED, Phase.STREAMING, "silent", id="silent-audio",
            ),
            pytest.param(
                [{"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": speech(0.5)}}]}}},
                 {"serverContent": {"turnComplete": True}}],
                ProbeKind.TEXT, Outcome.VALIDATION_FAILED, Phase.STREAMING, "transcript", id="no-transcript",
            ),
            pytest.param(
                [{"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                    "mimeType": "audio/pcm;rate=24000", "data": speech(0.5)}}]},
                    "outputTranscription": {"text": "ok"}, "turnComplete": True}}],
                ProbeKind.TOOL, Outcome.VALIDATION_FAILED, Phase.STREAMING, "tool", id="tool-not-called",
            ),
            pytest.param(
                ["{not json"], ProbeKind.TEXT, Outcome.PROTOCOL_ERROR, Phase.FIRST_RESPONSE, "JSON",
                id="malformed",
            ),
            pytest.param(
                [{"setupComplete": {}}], ProbeKind.TEXT, Outcome.PROTOCOL_ERROR, Phase.FIRST_RESPONSE,
                "setupComplete", id="out-of-order",
            ),
        ],
    )  # fmt: skip
    async def test_completed_or_malformed_turns(
        self,
        http: aiohttp.ClientSession,
        frames: list[Any],
        kind: ProbeKind,
        outcome: Outcome,
        phase: Phase,
        detail: str,
    ) -> None:
        async def play(rec: Recorder, ws: web.WebSocketResponse) -> None:
            await setup_ok(ws)
            await read_turn(ws)
            for frame in frames:
                if isinstance(frame, str):
                    await ws.send_bytes(frame.encode())
                else:
                    await send(ws, frame)
            await drain(ws)

        async with serve(Recorder(play)) as url:
            result = await run_probe(target(url, recover=False), kind, http=http)
        assert (result.outcome, result.phase) == (outcome, phase)
        assert detail in result.detail
        assert result.close_initiator == "client"


class TestGoAway:
    async def test_goaway_before_the_turn_reconnects_with_the_handle(
        self, http: aiohttp.ClientSession
    ) -> None:
        async def go_away(rec: Recorder, ws: web.WebSocketResponse) -> None:
            rec.setups.append((await setup_ok(ws, handle="h-go"))["setup"])
            await send(ws, {"goAway": {"timeLeft": "10s"}})
            await drain(ws)

        rec = Recorder(go_away, ok_turn)
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http)
        assert result.outcome is Outcome.OK
        assert rec.connections == 2
        assert rec.setups[1]["sessionResumption"] == {"handle": "h-go"}
        assert "goAway" in kinds(result)
        assert "reconnect" in kinds(result)
        assert kinds(result).count("close") == 1

    async def test_goaway_mid_turn_closes_before_time_left_and_resumes(
        self, http: aiohttp.ClientSession
    ) -> None:
        """We close before the server's 1008 abort; the turn is a timeout/goaway, recovery resumes."""

        async def go_away_mid_turn(rec: Recorder, ws: web.WebSocketResponse) -> None:
            rec.setups.append((await setup_ok(ws, handle="h-mid"))["setup"])
            await read_turn(ws)
            await send(ws, {"goAway": {"timeLeft": "0.4s"}})
            try:
                async with asyncio.timeout(0.6):
                    await drain(ws)
            except TimeoutError:
                await ws.close(code=1008, message=b"Connection aborted because the client failed to close")

        rec = Recorder(go_away_mid_turn, ok_turn)
        async with serve(rec) as url:
            result = await run_probe(target(url), ProbeKind.TEXT, http=http)
        assert (result.outcome, result.cause, result.phase) == (
            Outcome.TIMEOUT,
            Cause.GOAWAY,
            Phase.FIRST_RESPONSE,
        )
        assert result.close_initiator == "client"
        assert result.timings[TimingPhase.FAILURE] < 0.4
        assert result.recovery is not None
        assert result.recovery.kind is RecoveryKind.RESUMED
        assert result.recovery.outcome is RecoveryOutcome.OK
        assert rec.setups[1]["sessionResumption"] == {"handle": "h-mid"}


async def test_our_bug_is_logged_without_the_key(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """prober_error logs a traceback for us to fix, with the key scrubbed even where it appears."""

    class Leaky(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError(f"bug while holding {CANARY}")

        def __iter__(self) -> Iterator[str]:
            return iter(["model"])

        def __len__(self) -> int:
            return 1

    async with serve(Recorder(ok_turn)) as url:
        with caplog.at_level("ERROR", logger="monitor.probe.runner"):
            result = await run_probe(target(url, setup=Leaky()), ProbeKind.TEXT, http=http)
    assert result.outcome is Outcome.PROBER_ERROR
    assert result.detail == "RuntimeError: bug while holding ***"
    assert "prober_error" in caplog.text
    assert "bug while holding ***" in caplog.text
    assert "Traceback" in caplog.text
    assert CANARY not in caplog.text
    assert_no_canary(result)
