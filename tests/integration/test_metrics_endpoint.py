"""/metrics as the daemon serves it (the cached exposition) over real HTTP: Prometheus, curl, others."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import ProbeKind
from monitor.store.records import Store
from monitor.web.app import build_app
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, ok_turn

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
Client = Callable[..., Awaitable[TestClient]]


class _Healthy:
    def check(self) -> HealthStatus:
        return HealthStatus(healthy=True, detail={})


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ProbeMetrics:
    probe_metrics = ProbeMetrics(registry)
    models = [ModelInfo(ALIAS, "gemini-2.5", alias=True), ModelInfo(PINNED, "gemini-2.5", alias=False)]
    probe_metrics.register_targets(ENDPOINT, models, [ProbeKind.TEXT, ProbeKind.AUDIO])
    probe_metrics.observe(ok_turn(NOW, model=PINNED))
    probe_metrics.observe(incident_000_failure(NOW, model=ALIAS))
    return probe_metrics


@pytest.fixture
async def client(
    aiohttp_client: Client, registry: CollectorRegistry, metrics: ProbeMetrics, store: Store
) -> TestClient:
    app = build_app(registry=registry, store=store, health=_Healthy(), exposition=metrics.exposition)
    return await aiohttp_client(app)


async def test_prometheus_scrape_gets_gzipped_text_with_every_sample(
    client: TestClient, registry: CollectorRegistry
) -> None:
    """Prometheus' Accept and gzip: text 0.0.4, gzip-encoded, the registry's samples exactly."""
    response = await client.get(
        "/metrics",
        headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"},
        auto_decompress=False,
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(await response.read()).decode()
    assert samples(text) == samples(generate_latest(registry).decode())


async def test_uncompressed_scrape_streams_the_same_text(
    client: TestClient, registry: CollectorRegistry
) -> None:
    """Without Accept-Encoding (curl): the same bytes, with a correct Content-Length."""
    response = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    body = await response.read()
    assert "Content-Encoding" not in response.headers
    assert int(response.headers["Content-Length"]) == len(body)
    assert samples(body.decode()) == samples(generate_latest(registry).decode())


async def test_concurrent_scrapes_all_get_the_current_counts(
    client: TestClient, metrics: ProbeMetrics
) -> None:
    """Two hundred scrapes at once, right after a turn was recorded, all see that turn."""
    metrics.observe(ok_turn(NOW, model=PINNED))
    ok = (
        "gemini_live_probe_turns_total",
        frozenset(
            {"endpoint": ENDPOINT, "model": PINNED, "probe": "text", "outcome": "ok", "cause": "none"}.items()
            | {("code", ""), ("phase", "")}
        ),
    )

    async def scrape() -> float:
        response = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        return samples(await response.text())[ok]

    assert set(await asyncio.gather(*(scrape() for _ in range(200)))) == {2.0}


async def test_openmetrics_only_and_name_filter_use_prometheus_client(client: TestClient) -> None:
    """A client that accepts only OpenMetrics gets OpenMetrics; `name[]` filters still work."""
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert (await response.text()).endswith("# EOF\n")
    only = await (await client.get("/metrics", params={"name[]": "gemini_live_model_info"})).text()
    assert {family.name for family in text_string_to_metric_families(only)} == {"gemini_live_model_info"}


async def test_a_client_gone_mid_scrape_does_not_break_the_next(client: TestClient) -> None:
    """A scraper that disconnects while the body builds leaves the cache usable for the next one."""
    url = client.make_url("/metrics")
    async with aiohttp.ClientSession() as session:
        try:
            async with asyncio.timeout(0.0001):
                await session.get(url)
        except TimeoutError:
            pass
    response = await client.get("/metrics")
    assert response.status == 200
    assert "gemini_live_probe_turns_total" in await response.text()
