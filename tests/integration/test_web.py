"""The web app over real HTTP (pytest-aiohttp client, ephemeral port) with a real Store and registry."""

from __future__ import annotations

import asyncio
import http.client
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.store.records import Store
from monitor.web.app import API_MAX_LIMIT, build_app
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, ok_turn

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
FAMILY = "gemini-2.5-flash-native-audio"
MODELS = [ModelInfo(ALIAS, FAMILY, alias=True), ModelInfo(PINNED, FAMILY, alias=False)]

# docs/metrics.md's metric table (plus the inflight gauge), as the exposition parser names the families.
DESIGN_FAMILIES = {
    "gemini_live_probe_turns": "counter",
    "gemini_live_probe_phase_seconds": "histogram",
    "gemini_live_probe_failure_seconds": "histogram",
    "gemini_live_probe_success": "gauge",
    "gemini_live_probe_last_success_timestamp_seconds": "gauge",
    "gemini_live_probe_recoveries": "counter",
    "gemini_live_probe_recovery_seconds": "histogram",
    "gemini_live_probe_tokens": "counter",
    "gemini_live_model_info": "gauge",
    "gemini_live_monitor_schedule_lag_seconds": "histogram",
    "gemini_live_monitor_skipped": "counter",
    "gemini_live_monitor_build_info": "gauge",
    "gemini_live_monitor_inflight_sessions": "gauge",
}

Client = Callable[..., Awaitable[TestClient]]


class FixedClock:
    def monotonic(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return NOW


@dataclass
class SwitchableHealth:
    """A HealthCheck whose answer the test sets (the scheduler's real one is tested with the daemon)."""

    status: HealthStatus

    def check(self) -> HealthStatus:
        return self.status


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ProbeMetrics:
    probe_metrics = ProbeMetrics(registry)
    probe_metrics.register_targets(ENDPOINT, MODELS, [ProbeKind.TEXT, ProbeKind.AUDIO])
    return probe_metrics


@pytest.fixture
def health() -> SwitchableHealth:
    return SwitchableHealth(HealthStatus(healthy=True, detail={"jobs": 4, "late_jobs": []}))


@pytest.fixture
async def client(
    aiohttp_client: Client,
    registry: CollectorRegistry,
    metrics: ProbeMetrics,
    store: Store,
    health: SwitchableHealth,
) -> TestClient:
    app = build_app(registry=registry, store=store, health=health, clock=FixedClock(), models=MODELS)
    return await aiohttp_client(app)


def record(store: Store, metrics: ProbeMetrics, *results: ProbeResult) -> None:
    """What the daemon does: commit, then count."""
    for result in results:
        store.append(result)
        metrics.observe(result)


class TestMetrics:
    async def test_every_design_metric_is_exposed_after_register_targets(self, client: TestClient) -> None:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        families = {f.name: f.type for f in text_string_to_metric_families(await response.text())}
        assert {name: families.get(name) for name in DESIGN_FAMILIES} == DESIGN_FAMILIES

    async def test_openmetrics_negotiation_gzip_and_name_filter(self, client: TestClient) -> None:
        """What Prometheus asks for: OpenMetrics, gzipped; and the client library's `name[]` filter."""
        headers = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
        response = await client.get("/metrics", headers=headers)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        assert response.headers["Content-Encoding"] == "gzip"
        text = await response.text()  # aiohttp's client decompresses
        assert text.endswith("# EOF\n")
        assert "gemini_live_probe_turns_total{" in text
        only = await (await client.get("/metrics", params={"name[]": "gemini_live_model_info"})).text()
        families = {f.name for f in text_string_to_metric_families(only)}
        assert families == {"gemini_live_model_info"}

    async def test_counts_match_the_store(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        record(store, metrics, ok_turn(NOW), incident_000_failure(NOW), incident_000_failure(NOW))
        text = await (await client.get("/metrics")).text()
        turns = {
            (s.labels["model"], s.labels["outcome"], s.labels["code"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "gemini_live_probe_turns_total" and s.labels["probe"] == "text"
        }
        assert turns[(PINNED, "ok", "")] == 1
        assert turns[(ALIAS, "server_close", "1011")] == 2
        assert turns[(ALIAS, "ok", "")] == 0  # pre-created, never observed
        for key, count in store.count_by().items():
            assert turns[(key.model, key.outcome.value, "" if key.code is None else str(key.code))] == count


class TestHealthz:
    async def test_healthy(self, client: TestClient) -> None:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"healthy": True, "detail": {"jobs": 4, "late_jobs": []}}

    async def test_unhealthy_is_503_with_the_reason(
        self,
        client: TestClient,
        health: SwitchableHealth,
    ) -> None:
        health.status = HealthStatus(healthy=False, detail={"late_jobs": [f"{ALIAS}/text"], "since": NOW})
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body == {"healthy": False, "detail": {"late_jobs": [f"{ALIAS}/text"], "since": str(NOW)}}


class TestResultsApi:
    @pytest.fixture
    def history(self, store: Store, metrics: ProbeMetrics) -> list[ProbeResult]:
        results = []
        for minute in range(30):
            at = NOW - timedelta(minutes=30 - minute)
            results.append(ok_turn(at, model=PINNED, run_id=f"pinned-{minute}"))
            alias = incident_000_failure(at) if minute >= 20 else ok_turn(at, model=ALIAS)
            results.append(replace(alias, run_id=f"alias-{minute}"))
        record(store, metrics, *results)
        return results

    async def test_filters_and_records_are_the_design_record(
        self,
        client: TestClient,
        history: list[ProbeResult],
    ) -> None:
        response = await client.get(
            "/api/results", params={"model": ALIAS, "since": "15m", "outcome": "server_close"}
        )
        assert response.status == 200
        body = await response.json()
        assert [r["run_id"] for r in body] == [f"alias-{m}" for m in range(20, 30)]
        first = body[0]
        assert (first["outcome"], first["cause"], first["code"], first["phase"]) == (
            "server_close",
            "internal",
            1011,
            "first_response",
        )
        assert first["messages"] == [
            ["setupComplete", -0.1],
            ["sessionResumptionUpdate", 0.12],
            ["close", 1.87],
        ]
        assert response.headers["X-Results-Truncated"] == "false"

    async def test_iso_window_and_outcome_list(
        self,
        client: TestClient,
        history: list[ProbeResult],
    ) -> None:
        params = {
            "since": "2026-05-27T17:35:00Z",
            "until": "2026-05-27T17:40:00+00:00",
            "outcome": "ok,timeout",
            "probe": "text",
        }
        body = await (await client.get("/api/results", params=params)).json()
        assert [r["run_id"] for r in body] == [f"{m}-{i}" for i in range(5, 10) for m in ("pinned", "alias")]

    async def test_limit_keeps_the_newest_and_says_so(
        self,
        client: TestClient,
        history: list[ProbeResult],
    ) -> None:
        response = await client.get("/api/results", params={"model": PINNED, "limit": "3"})
        assert [r["run_id"] for r in await response.json()] == ["pinned-27", "pinned-28", "pinned-29"]
        assert response.headers["X-Results-Truncated"] == "true"

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            pytest.param({"probe": "video"}, "probe: 'video' is not one of text, audio, tool", id="probe"),
            pytest.param(
                {"outcome": "ok,bogus"}, "outcome: 'bogus' is not one of ok, server_close", id="outcome"
            ),
            pytest.param(
                {"since": "yesterday"}, "since: 'yesterday' is neither an ISO 8601 time", id="since"
            ),
            pytest.param(
                {"until": "2026-05-27T17:00:00"}, "until: '2026-05-27T17:00:00' is neither", id="naive"
            ),
            pytest.param({"since": "1h", "until": "2h"}, "since: must be earlier than until", id="window"),
            pytest.param(
                {"limit": "0"}, f"limit: must be between 1 and {API_MAX_LIMIT}, got 0", id="limit-0"
            ),
            pytest.param({"limit": "ten"}, "limit: must be an integer, got 'ten'", id="limit-text"),
            pytest.param({"limit": str(API_MAX_LIMIT + 1)}, "limit: must be between 1 and", id="limit-max"),
            pytest.param({"modle": ALIAS}, "modle: unknown parameter; allowed: model, probe", id="typo"),
            pytest.param([("model", ALIAS), ("model", PINNED)], "model: given more than once", id="repeated"),
        ],
    )
    async def test_bad_parameters_are_400_naming_the_parameter(
        self,
        client: TestClient,
        params: dict[str, str] | list[tuple[str, str]],
        message: str,
    ) -> None:
        response = await client.get("/api/results", params=params)
        assert response.status == 400
        assert (await response.json())["error"].startswith(message)


class TestStatusPage:
    async def test_empty_store(self, client: TestClient) -> None:
        response = await client.get("/")
        assert response.status == 200
        assert "No probe turns stored yet." in await response.text()

    async def test_models_ratios_latency_and_failures(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        record(store, metrics, *(ok_turn(NOW - timedelta(minutes=m), model=PINNED) for m in range(1, 5)))
        record(store, metrics, ok_turn(NOW - timedelta(minutes=4), model=ALIAS, first_audio=0.5))
        failure = incident_000_failure(NOW - timedelta(minutes=2), run_id="the-1011")
        record(
            store, metrics, failure, replace(failure, run_id="bug", outcome=Outcome.PROBER_ERROR, code=None)
        )
        html = await (await client.get("/")).text()
        assert '<meta http-equiv="refresh"' in html
        assert f'{PINNED}</a> <span class="badge">pinned</span>' in html
        assert f'{ALIAS}</a> <span class="badge">alias</span>' in html
        # The prober_error is left out of the ratio: 1 ok of 2 provider-judged turns, N=2.
        assert '50.0 %</span> (N=2) <span class="muted">+1 prober_error</span>' in html
        assert "100.0 %</span> (N=4)" in html
        assert "0.500 s / 0.500 s" in html
        assert 'id="run-the-1011"><summary>' in html  # listed, collapsed
        assert "Internal error encountered." in html
        times = "\u00d7"
        assert f"— 24 h: prober_error {times}1, server_close 1011 {times}1</span></h3>" in html

    async def test_open_expands_the_wire_trace_and_stops_refresh(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        record(store, metrics, incident_000_failure(NOW - timedelta(minutes=2), run_id="the-1011"))
        html = await (await client.get("/", params={"open": "the-1011"})).text()
        assert 'id="run-the-1011" open>' in html
        assert "http-equiv" not in html
        trace = html.split('id="run-the-1011" open>')[1].split("</details>")[0]
        for row in ("-0.412 s", "setup", "-0.100 s", "setupComplete", "+0.000 s", "turn sent (text probe)"):
            assert row in trace
        assert "+0.120 s" in trace
        assert "sessionResumptionUpdate" in trace
        assert "+1.870 s" in trace
        assert "close code=1011 &quot;Internal error encountered.&quot;" in trace

    async def test_open_an_unknown_or_older_run(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        old_ok = ok_turn(NOW - timedelta(days=3), run_id="old-ok")
        record(store, metrics, old_ok)
        html = await (await client.get("/", params={"open": "old-ok"})).text()
        assert "<h2>Selected turn</h2>" in html
        assert 'id="run-old-ok" open>' in html
        # An ok session is closed by us: the trace says so, with no code or reason.
        assert '<td class="client">client →</td><td>close</td>' in html
        # One frame's messages share a row; twelve identical audio frames share one.
        frames = "serverContent.modelTurn + serverContent.outputTranscription x12 (until +1.390 s)"
        assert f"<td>{frames}</td>" in html
        assert "<td>serverContent.generationComplete</td>" in html
        assert "<td>serverContent.turnComplete + usageMetadata</td>" in html
        html = await (await client.get("/", params={"open": "<nope>"})).text()
        assert "No record with run_id <code>&lt;nope&gt;</code>." in html

    async def test_server_text_is_escaped(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        hostile = replace(
            incident_000_failure(NOW - timedelta(minutes=1)),
            close_reason='<script>alert("x")</script>',
            detail="<img src=x onerror=alert(1)>",
            messages=(("<b>bold</b>", 0.1),),
        )
        record(store, metrics, hostile)
        html = await (await client.get("/", params={"open": hostile.run_id})).text()
        assert "<script>" not in html
        assert "<img" not in html
        assert "<b>" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "&lt;b&gt;bold&lt;/b&gt;" in html

    async def test_control_characters_never_reach_the_page(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
    ) -> None:
        """ESC sequences, BEL, C1 and bidi overrides in server text are dropped; the text around stays."""
        hostile = replace(
            incident_000_failure(NOW - timedelta(minutes=1)),
            close_reason="\x1b[2J\x1b]0;owned\x07Internal\u202e error\x9b",
            detail="\x00\x1b[31mred",
            messages=(("\x1b[5mblink", 0.1),),
        )
        record(store, metrics, hostile)
        for params in ({}, {"open": hostile.run_id}):
            html = await (await client.get("/", params=params)).text()
            assert not any(c in html for c in "\x00\x1b\x07\x9b\u202e"), params
            assert "[2J]0;ownedInternal error" in html
        assert "[5mblink" in html
        assert "[31mred" in html


class TestNoQueryIsAServerError:
    """Issue 13 item 7: whatever the query, every endpoint answers below 500."""

    @pytest.mark.parametrize(
        ("params", "status", "expected"),
        [
            pytest.param({"since": "1000000d"}, 200, ["recent"], id="look-back-past-the-calendar"),
            pytest.param({"since": "99999999999999999999d"}, 200, ["recent"], id="look-back-huge"),
            pytest.param({"since": "9" * 400 + "s"}, 200, ["recent"], id="look-back-infinite"),
            pytest.param(
                {"since": "0001-01-01T00:00:00+01:00"},
                400,
                "since: '0001-01-01T00:00:00+01:00' is outside the times this API can represent",
                id="before-year-1-in-utc",
            ),
            pytest.param(
                {"until": "9999-12-31T23:59:59-01:00"},
                400,
                "until: '9999-12-31T23:59:59-01:00' is outside the times this API can represent",
                id="after-year-9999-in-utc",
            ),
            # aiohttp decodes an encoded surrogate to U+FFFD: a model that matches nothing.
            pytest.param({"model": "\ud800"}, 200, [], id="encoded-surrogate"),
            pytest.param({"model": "m" * 5000}, 400, "model: must be UTF-8 text", id="over-long"),
            pytest.param({"limit": "9" * 5000}, 400, "limit: must be UTF-8 text", id="limit-5000-digits"),
            pytest.param(
                {"limit": "1" * 999}, 400, "limit: must be between 1 and 10000", id="limit-999-digits"
            ),
        ],
    )
    async def test_extreme_times_and_values(
        self,
        client: TestClient,
        store: Store,
        metrics: ProbeMetrics,
        params: dict[str, str],
        status: int,
        expected: str | list[str],
    ) -> None:
        record(store, metrics, ok_turn(NOW - timedelta(minutes=1), run_id="recent"))
        query = "&".join(f"{k}={quote(v, errors='surrogatepass')}" for k, v in params.items())
        response = await client.get(f"/api/results?{query}")
        assert response.status == status, await response.text()
        if isinstance(expected, list):
            assert [r["run_id"] for r in await response.json()] == expected
        else:
            assert (await response.json())["error"].startswith(expected)

    async def test_a_corrupted_store_is_503_with_the_cause(
        self, aiohttp_client: Client, registry: CollectorRegistry, tmp_path: Path
    ) -> None:
        path = tmp_path / "records.db"
        broken = Store(path)
        broken.append_many(ok_turn(NOW - timedelta(minutes=m), run_id=f"r{m}") for m in range(400))
        app = build_app(registry=registry, store=broken, health=SwitchableHealth(HEALTHY), clock=FixedClock())
        client = await aiohttp_client(app)
        corrupt_pages(path)
        try:
            for target in ("/api/results?limit=10000", "/"):
                response = await client.get(target)
                assert response.status == 503, (target, await response.text())
                error = (await response.json())["error"]
                assert error.startswith("store unavailable: "), error
                assert len(error) < 250
        finally:
            broken.close()


HEALTHY = HealthStatus(healthy=True, detail={})


def corrupt_pages(path: Path) -> None:
    """Overwrite the middle of the database file (after checkpointing it), keeping its valid header."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 3)
        handle.write(b"\xa5" * (size // 3))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a real socket in its own thread, for hypothesis to query with raw request lines."""
    path = tmp_path_factory.mktemp("served") / "records.db"
    store = Store(path)
    store.append_many([ok_turn(NOW - timedelta(minutes=5)), incident_000_failure(NOW - timedelta(minutes=1))])
    registry = CollectorRegistry()
    ProbeMetrics(registry).register_targets(ENDPOINT, MODELS, [ProbeKind.TEXT])
    app = build_app(registry=registry, store=store, health=SwitchableHealth(HEALTHY), clock=FixedClock())
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    bound: list[int] = []
    runner = web.AppRunner(app, access_log=None)

    async def serve() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        bound.append(int(server.sockets[0].getsockname()[1]))
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(10)
    yield f"127.0.0.1:{bound[0]}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    store.close()


_VALUES = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A-?[0-9]{1,30}(\.[0-9]{1,5})?(ms|s|m|h|d|y)?\Z"),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:00:00{}".format,
        st.sampled_from([0, 1, 2, 1969, 1970, 2026, 9998, 9999]),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.sampled_from(["Z", "+01:00", "-01:00", "+23:59", "-23:59", "", "+24:00"]),
    ),
    st.sampled_from([*(o.value for o in Outcome), *(p.value for p in ProbeKind), ALIAS, "0", "10001"]),
    st.binary(max_size=12).map(lambda b: b.hex()),
)
_KEYS = st.sampled_from(["model", "probe", "since", "until", "outcome", "limit", "open", "name[]", "x"])


def _encoded(pairs: list[tuple[str, str]], raw_bytes: bytes) -> str:
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='', errors='surrogatepass')}" for k, v in pairs)
    # Raw percent-escapes too: invalid UTF-8 (%ff), an encoded surrogate (%ed%a0%80), a NUL (%00).
    return query + ("&" if query else "") + "".join(f"%{b:02x}" for b in raw_bytes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/api/results", "/", "/healthz", "/metrics", "/nope", "/api/results/"]),
    pairs=st.lists(st.tuples(_KEYS, _VALUES), max_size=4),
    raw_bytes=st.binary(max_size=6),
)
def test_any_query_on_any_endpoint_is_answered_below_500(
    served: str, path: str, pairs: list[tuple[str, str]], raw_bytes: bytes
) -> None:
    """Hypothesis: random parameters, times at the calendar's edges, raw bytes: every answer is < 500."""
    connection = http.client.HTTPConnection(served, timeout=10)
    try:
        connection.request("GET", f"{path}?{_encoded(pairs, raw_bytes)}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status < 500, (response.status, body[:300])
    if path == "/api/results" and response.status == 400:
        assert json.loads(body)["error"]
