"""The probe against a server that misbehaves on purpose: each mode classified, in time, neighbours unharmed.

Each test runs the real probe against one mode of `server.py` while a neighbour (another model, a healthy
server) is probed in a loop on the same event loop, as the daemon runs its jobs. It asserts the outcome and
the detail naming the limit, the time taken (the budgets plus the close limit plus slack), that nothing was
logged as our own bug, and that the neighbour kept being probed, every turn of it ok.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.live.session import http_client
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult
from monitor.probe.runner import run_probe
from monitor.probe.target import PhaseBudgets, ProbeLimits, ProbeTarget
from monitor.store.records import Store
from tests.integration.hostile.server import MODES, slow_loris
from tests.unit.live.scripted_server import answer_turn, drain, read_turn, serve, setup_ok

BUDGETS = PhaseBudgets(connect=1.0, setup=1.0, first_response=1.0, turn=1.5)
LIMITS = ProbeLimits(audio_bytes=1024 * 1024, messages_kept=50, frame_bytes=1024 * 1024, close_seconds=0.5)
# The longest a probe may take: every phase budget, then the close limit; the slack is for a loaded CI box.
BOUND = BUDGETS.total + LIMITS.close_seconds
SLACK = 1.5
SAFE_KIND = re.compile(r"[A-Za-z0-9_.~]{1,60}")


async def healthy(ws: web.WebSocketResponse, request: web.Request) -> None:
    await setup_ok(ws)
    await read_turn(ws)
    await answer_turn(ws)
    await drain(ws)


@dataclass
class Neighbour:
    """Another model probed in a loop beside the hostile probe: (monotonic end, result) per turn."""

    results: list[tuple[float, ProbeResult]] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, result: ProbeResult) -> None:
        self.results.append((time.monotonic(), result))
        self.finished.set()

    def ended_within(self, start: float, end: float) -> list[ProbeResult]:
        return [result for at, result in self.results if start <= at <= end]

    async def one_more(self) -> None:
        """Wait (at most 3 s) for the neighbour's next turn to end."""
        self.finished.clear()
        async with asyncio.timeout(3.0):
            await self.finished.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_client() as session:  # the probes' own client, as the daemon and `probe` run them
        yield session


@pytest.fixture
async def neighbour(http: aiohttp.ClientSession) -> AsyncIterator[Neighbour]:
    state = Neighbour()
    async with serve(healthy) as url:
        other = target(url, model="gemini-neighbour")

        async def loop() -> None:
            while True:
                result = await run_probe(other, ProbeKind.TEXT, http=http)
                state.add(result)
                await asyncio.sleep(0.02)

        task = asyncio.create_task(loop())
        await state.one_more()
        yield state
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert all(result.ok for _, result in state.results), [r.detail for _, r in state.results if not r.ok]


def target(url: str, **overrides: Any) -> ProbeTarget:
    fields: dict[str, Any] = {
        "endpoint": "gemini-api",
        "url": url,
        "model": "gemini-hostile",
        "budgets": BUDGETS,
        "limits": LIMITS,
        "pace_audio": False,
        "recover": False,
    }
    fields.update(overrides)
    return ProbeTarget(**fields)


async def probe(
    url: str,
    http: aiohttp.ClientSession,
    neighbour: Neighbour,
    caplog: pytest.LogCaptureFixture,
    *,
    kind: ProbeKind = ProbeKind.TEXT,
    bound: float = BOUND,
    **overrides: Any,
) -> ProbeResult:
    """One hostile probe: in time, nothing logged as a bug, the neighbour probed during and after it."""
    caplog.set_level(logging.WARNING)
    start = time.monotonic()
    result = await run_probe(target(url, **overrides), kind, http=http)
    elapsed = time.monotonic() - start
    assert elapsed < bound + SLACK, f"{elapsed:.2f} s against a bound of {bound:g} s"
    if elapsed > 1.0:  # long enough for the neighbour's turns (a few ms each) to have run meanwhile
        assert neighbour.ended_within(start, start + elapsed), "the neighbour was not probed meanwhile"
    await neighbour.one_more()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[:2000]
    assert result.outcome is not Outcome.PROBER_ERROR, result.detail
    record = json.dumps(result.to_record(), ensure_ascii=False).encode()  # strict UTF-8: no lone surrogate
    assert len(record) <= LIMITS.record_bytes
    assert all(SAFE_KIND.fullmatch(kind_) for kind_, _ in result.messages), result.messages
    return result


async def hostile(
    mode: str, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: Any, **kw: Any
) -> Any:
    async with serve(MODES[mode]) as url:
        return await probe(url, http, neighbour, caplog, **kw)


class TestMemoryAndTime:
    async def test_endless_audio_times_out_streaming_with_only_the_sample_kept(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Audio without end is a streaming timeout at the turn budget; it is counted, only 1 MiB is kept."""
        result = await hostile("endless_audio", http, neighbour, caplog)
        assert (result.outcome, result.cause, result.phase) == (
            Outcome.TIMEOUT,
            Cause.DEADLINE,
            Phase.STREAMING,
        )
        assert result.audio_seconds > LIMITS.audio_bytes / 2 / 24_000  # counted past the kept sample
        assert result.messages_dropped > 0

    async def test_failure_is_timed_at_detection_not_after_our_unanswered_close(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A bad frame, then a server deaf to our close: the close waits limits.close_seconds, the failure
        timing (turn sent to detection) does not include that wait."""
        start = time.monotonic()
        result = await hostile("bad_frame_then_deaf", http, neighbour, caplog)
        assert time.monotonic() - start >= LIMITS.close_seconds  # the close really waited
        assert result.outcome is Outcome.PROTOCOL_ERROR, result.detail
        assert result.timings[TimingPhase.FAILURE] < LIMITS.close_seconds / 2

    @pytest.mark.parametrize("mode", ["endless_transcript", "endless_text"])
    async def test_endless_text_times_out_holding_a_bounded_sample(
        self, mode: str, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """512 kB text frames without end: a streaming timeout, and the turn's Python memory stays bounded
        (TEXT_CHARS kept of each; before the bound every frame was kept, 14 GB in 30 s at 1 MB a frame)."""
        tracemalloc.start()
        try:
            result = await hostile(mode, http, neighbour, caplog)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (result.outcome, result.phase) == (Outcome.TIMEOUT, Phase.STREAMING)
        assert result.messages_dropped > 0  # many frames came: a bound, not a slow server, held memory
        assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"

    async def test_audio_past_the_kept_bytes_still_completes_and_counts_its_duration(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """80 s of audio with a 1 MiB sample: the turn is ok and its duration counts every byte."""
        result = await hostile("long_audio", http, neighbour, caplog, bound=BOUND + 2.0)
        assert result.outcome is Outcome.OK, result.detail
        assert result.audio_seconds == pytest.approx(80.0, abs=0.1)

    async def test_a_message_flood_keeps_the_first_and_last_messages_and_counts_the_rest(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Messages without end: a first-response timeout; 2 x 50 messages kept, the rest counted."""
        result = await hostile("message_flood", http, neighbour, caplog)
        assert (result.outcome, result.phase) == (Outcome.TIMEOUT, Phase.FIRST_RESPONSE)
        kinds = [kind for kind, _ in result.messages]
        assert "~dropped" in kinds
        assert len(kinds) <= 2 * LIMITS.messages_kept + 1
        assert result.messages_dropped > 1000
        assert result.to_record()["messages_dropped"] == result.messages_dropped

    async def test_a_record_over_its_size_limit_has_its_message_list_cut_further(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Thousands of messages kept would make a record of 100 kB or more: cut to fit 8 kB, counted."""
        limits = ProbeLimits(messages_kept=5000, record_bytes=8192, close_seconds=0.5)
        result = await hostile("message_flood", http, neighbour, caplog, limits=limits)
        assert len(json.dumps(result.to_record()).encode()) <= 8192
        kinds = [kind for kind, _ in result.messages]
        assert kinds.count("~dropped") == 1
        assert result.messages_dropped + len(kinds) - 1 > 1000  # a flood, even on a loaded machine

    async def test_a_server_that_never_answers_our_close_cannot_hold_the_probe(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A complete turn, then frames without end and no close frame: ok, done within the close limit."""
        start = time.monotonic()
        result = await hostile("never_closes", http, neighbour, caplog)
        assert result.outcome is Outcome.OK, result.detail
        assert result.close_initiator == "client"
        assert time.monotonic() - start < result.timings["turn"] + LIMITS.close_seconds + SLACK

    async def test_recovery_against_the_same_server_is_bounded_too(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The failed turn and its recovery attempt each stay within their own budgets."""
        result = await hostile("endless_audio", http, neighbour, caplog, recover=True, bound=2 * BOUND)
        assert result.outcome is Outcome.TIMEOUT
        assert result.recovery is not None
        assert result.recovery.detail == "timeout deadline"

    async def test_a_frame_over_the_frame_limit_is_a_protocol_error_naming_it(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An 8 MiB frame against a 1 MiB limit: protocol_error naming the limit."""
        result = await hostile("huge_frame", http, neighbour, caplog)
        assert result.outcome is Outcome.PROTOCOL_ERROR
        assert "limits.frame_bytes 1048576" in result.detail

    async def test_slow_loris_upgrade_times_out_in_connect(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An upgrade answered one byte at a time is a connect timeout at the connect budget."""
        async with slow_loris() as url:
            result = await probe(url, http, neighbour, caplog)
        assert (result.outcome, result.phase) == (Outcome.TIMEOUT, Phase.CONNECT)

    async def test_a_server_that_never_answers_the_setup_times_out_in_setup(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Setup read and never answered: a setup timeout at the setup budget."""
        result = await hostile("silent_after_upgrade", http, neighbour, caplog)
        assert (result.outcome, result.phase) == (Outcome.TIMEOUT, Phase.SETUP)


class TestHostileUpgrade:
    async def test_a_redirect_is_a_rejection_and_the_key_never_leaves_for_its_target(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """302 to another server: handshake_rejected 302, and the other server never hears from us."""
        reached: list[str] = []

        async def elsewhere(ws: web.WebSocketResponse, request: web.Request) -> None:
            reached.append(request.headers.get("x-goog-api-key", ""))
            await healthy(ws, request)

        async with serve(elsewhere) as other:
            location = other.replace("ws://", "http://")

            async def redirect(request: web.Request) -> web.StreamResponse:
                return web.Response(status=302, headers={"Location": location})

            async with serve(healthy, upgrade=redirect) as url:
                key = SecretStr("AIzaSyRedirectedKey-0123456789abcdefghij")
                result = await probe(url, http, neighbour, caplog, api_key=key)
        assert (result.outcome, result.code) == (Outcome.HANDSHAKE_REJECTED, 302)
        assert reached == []

    async def test_every_session_opens_its_own_connection_after_a_kept_alive_refusal(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 503 that keeps its socket open: the next session must not ride on it (its connect would be
        timed without TCP setup), so the server sees two client ports for two sessions."""
        ports: list[int] = []

        async def once_unavailable(request: web.Request) -> web.StreamResponse | None:
            ports.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
            return web.Response(status=503, text="busy") if len(ports) == 1 else None

        async with serve(healthy, upgrade=once_unavailable) as url:
            first = await probe(url, http, neighbour, caplog)
            second = await probe(url, http, neighbour, caplog)
        assert (first.outcome, first.code, second.outcome) == (Outcome.HANDSHAKE_REJECTED, 503, Outcome.OK)
        assert len(ports) == 2
        assert ports[0] != ports[1]


class TestHostileKeys:
    async def test_a_lone_surrogate_key_is_recorded_safely_and_stored(
        self,
        http: aiohttp.ClientSession,
        neighbour: Neighbour,
        caplog: pytest.LogCaptureFixture,
        tmp_path: Path,
    ) -> None:
        """`{"\\ud800": 1}` beside a known message: the turn is ok, the kind is `_~1`, the store keeps it."""
        result = await hostile("surrogate_key", http, neighbour, caplog)
        assert result.outcome is Outcome.OK, result.detail
        assert "_~1" in [kind for kind, _ in result.messages]
        store = Store(tmp_path / "records.db")
        try:
            assert store.append(result)
            stored = store.get(result.run_id)
        finally:
            store.close()
        assert stored is not None
        assert stored.messages == tuple((kind, round(t, 4)) for kind, t in result.messages)

    async def test_a_10_kb_key_is_cut_to_a_bounded_kind(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 10,000-character key becomes 40 characters and its length."""
        result = await hostile("huge_key", http, neighbour, caplog)
        assert result.outcome is Outcome.OK
        assert "k" * 40 + "~10000" in [kind for kind, _ in result.messages]

    async def test_markdown_html_and_ansi_in_a_key_never_reach_the_record(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """ESC, newlines, `#`, `<img ...>`, backticks: the kind keeps letters, digits and `_` only."""
        result = await hostile("markup_key", http, neighbour, caplog)
        assert result.outcome is Outcome.OK
        text = json.dumps(result.to_record())
        for raw in ("\\u001b", "<img", "`", "# heading", "\\n"):
            assert raw not in text

    async def test_ten_thousand_unknown_keys_are_named_four_times_and_counted(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One frame of 10,000 unknown keys adds six entries: the known one, four names, one count."""
        result = await hostile("many_keys", http, neighbour, caplog)
        assert result.outcome is Outcome.OK
        kinds = [kind for kind, _ in result.messages]
        assert kinds[kinds.index("k0") - 1 : kinds.index("k0") + 5] == [
            "sessionResumptionUpdate", "k0", "k1", "k2", "k3", "more_keys~9996",
        ]  # fmt: skip

    async def test_an_empty_close_frame_is_code_1005(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No status in the close frame: 1005 (RFC 6455 7.1.5), never the invalid code 0."""
        result = await hostile("empty_close", http, neighbour, caplog)
        assert (result.outcome, result.code, result.close_initiator) == (Outcome.SERVER_CLOSE, 1005, "server")

    async def test_control_characters_in_a_close_reason_are_made_visible(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 1011 reason with ESC and a newline: still classified by its text, the controls escaped."""
        result = await hostile("ansi_close_reason", http, neighbour, caplog)
        assert (result.outcome, result.cause, result.code) == (Outcome.SERVER_CLOSE, Cause.INTERNAL, 1011)
        assert result.close_reason == "\\x1b[2J\\x1b[31mInternal error encountered.\\x0a# owned"

    async def test_a_credential_the_server_echoes_is_kept_out_of_the_record(
        self, http: aiohttp.ClientSession, neighbour: Neighbour, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The key quoted back as a message key and in a 1011's reason: classified, stored as ***."""
        key = "AIzaSyEchoedBack-0123456789abcdefghijklm"
        result = await hostile("echoes_key", http, neighbour, caplog, api_key=SecretStr(key))
        assert (result.outcome, result.cause, result.code) == (Outcome.SERVER_CLOSE, Cause.INTERNAL, 1011)
        assert result.close_reason == "Internal error encountered. key=*** (***)"
        # Both keys are first rewritten by kind_name (the `-`: 40 characters and "~40"/"~41"), then replaced.
        redacted = [kind for kind, _ in result.messages if kind.startswith("redacted~")]
        assert redacted == ["redacted~43", "redacted~43"]
        record = json.dumps(result.to_record())
        for form in (key, key.replace("-", "_"), key[:8]):
            assert form not in record


class TestHostileNumbersAndNesting:
    @pytest.mark.parametrize(
        ("mode", "detail"),
        [
            ("huge_token_count", "limits.integer_digits 18"),
            ("infinite_number", "not a finite double"),
            ("huge_sample_rate", "inlineData.mimeType of 5015 characters"),
            ("huge_integer", "integer string conversion"),
            ("deep_nesting", "limits.json_depth 64"),
            ("many_calls", "300003 JSON objects and arrays, more than 16384"),
            ("utf16_frame", "UnicodeDecodeError"),
            ("bom_frame", "Unexpected UTF-8 BOM"),
            ("huge_go_away", "not a protobuf Duration"),
            ("bad_close_reason", "WebSocket protocol violation"),
        ],
    )
    async def test_out_of_range_input_is_a_protocol_error_never_our_bug(
        self,
        http: aiohttp.ClientSession,
        neighbour: Neighbour,
        caplog: pytest.LogCaptureFixture,
        mode: str,
        detail: str,
    ) -> None:
        """400 digits, 1e400, a 5000-digit rate or integer, 10k-deep JSON, 300k function calls: protocol_error
        naming why."""
        result = await hostile(mode, http, neighbour, caplog)
        assert result.outcome is Outcome.PROTOCOL_ERROR, result.detail
        assert detail in result.detail
        assert len(result.detail) <= 300
