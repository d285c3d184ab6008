"""The web app over real HTTP (pytest-aiohttp client, ephemeral port) with a real Store and registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
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

# DESIGN.md's metric table (plus the inflight gauge), as the exposition parser names the families.
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
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "records.db")
    yield opened
    opened.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


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
