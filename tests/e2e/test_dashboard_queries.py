"""Every panel query of every shipped dashboard returns data from a real Prometheus scraping a real demo run.

`live-monitor run --demo` runs as a subprocess (4 s interval, regression onset at 0 s, three models: the
`-latest` alias that incident 000 broke, its clean pinned sibling, and the incident 001 model whose 1011s
recover by resumption). Prometheus runs with the shipped config and rules (tests/e2e/conftest.py), scraping
every second. Each query is sent as Grafana would send it with every variable at "All": `$__range` is the
time since the daemon started (instant queries), `$__rate_interval` is Grafana's
max($__interval + scrape interval, 4 x scrape interval) with the panel's minimum interval (range queries).
A query "returns data" when some series has a value that is not NaN. A panel that cannot is a defect of the
panel, and the test names it.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.dashboards.conftest import load_dashboards, panels

from .conftest import DemoDaemon, Server, StartPrometheus, demo_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
RESUMABLE = "gemini-3.1-flash-live-preview"
SCRAPE_SECONDS = 1
RANGE_STEP_SECONDS = 2
# Long enough for the rare events to happen: the incident 001 model drops ~10% of fresh turns, and each drop
# is one recovery; 15 of its turns a minute give a first recovery within a minute with ~80% odds.
DATA_TIMEOUT = 240.0


def demo_config(store: Path) -> dict[str, Any]:
    return {
        "vantage": "e2e",
        "listen": "127.0.0.1:0",
        "endpoints": [{"name": "gemini-api", "auth": "header", "api_key_env": "GEMINI_API_KEY"}],
        "models": [
            {"id": ALIAS, "family": "gemini-2.5-flash-native-audio", "alias": True, "probes": ["text"]},
            {"id": PINNED, "family": "gemini-2.5-flash-native-audio", "probes": ["text"]},
            {
                "id": RESUMABLE,
                "family": "gemini-3.1-flash-live",
                "text_path": "realtime_input",
                "probes": ["text", "audio", "tool"],
            },
        ],
        "probes": {
            "interval": "4s",
            "timeouts": {"connect": "1s", "setup": "1s", "first_response": "1s", "turn": "2s"},
            "pace_audio": False,
            "recover": True,
        },
        "budgets": {"sessions_per_minute": 600, "sessions_per_day": 1000000, "max_concurrent_sessions": 10},
        "store": {"path": str(store)},
        "demo": {"onset": "0s", "latency_scale": 0.3},
    }


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoDaemon]:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(demo_config(tmp_path / "store.sqlite3")))
    with demo_daemon(config) as running:
        yield running


@dataclass(frozen=True)
class PanelQuery:
    where: str
    expr: str
    instant: bool
    min_interval_seconds: int


def _seconds(duration: str) -> int:
    value, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()  # type: ignore[union-attr]
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


def dashboard_queries() -> list[PanelQuery]:
    queries = []
    for name, dashboard in load_dashboards().items():
        for panel in panels(dashboard):
            interval = _seconds(panel["interval"]) if panel.get("interval") else 0
            for target in panel["targets"]:
                where = f"{name} / {panel['title']} / {target['refId']}"
                queries.append(PanelQuery(where, target["expr"], bool(target.get("instant")), interval))
        for annotation in dashboard["annotations"]["list"]:
            queries.append(
                PanelQuery(f"{name} / annotation {annotation['name']}", annotation["expr"], False, 0)
            )
    return queries


def as_grafana_sends(query: PanelQuery, *, elapsed: int) -> str:
    """The expression with every variable at "All" and Grafana's interval variables resolved."""
    interval = max(RANGE_STEP_SECONDS, query.min_interval_seconds)
    rate_interval = max(interval + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)
    expr = query.expr.replace("$__rate_interval", f"{rate_interval}s").replace("$__range", f"{elapsed}s")
    return re.sub(r"\$\{?(vantage|endpoint|model|probe)\}?", ".*", expr)


async def run(
    http: aiohttp.ClientSession, prometheus: Server, query: PanelQuery, started: float
) -> list[Any]:
    now = time.time()
    expr = as_grafana_sends(query, elapsed=max(1, int(now - started)))
    if query.instant:
        path, params = "query", {"query": expr, "time": f"{now:.3f}"}
    else:
        path = "query_range"
        params = {
            "query": expr,
            "start": f"{started:.3f}",
            "end": f"{now:.3f}",
            "step": str(RANGE_STEP_SECONDS),
        }
    async with http.post(f"{prometheus.url}/api/v1/{path}", data=params) as response:
        body = await response.json()
    assert body["status"] == "success", f"{query.where}: {expr}: {body}"
    result: list[Any] = body["data"]["result"]
    return result


def has_data(result: list[Any]) -> bool:
    values = [s["value"] for s in result if "value" in s] + [v for s in result for v in s.get("values", [])]
    return any(not math.isnan(float(value)) for _, value in values)


@pytest.fixture
async def prometheus(demo: DemoDaemon, start_prometheus: StartPrometheus) -> Server:
    # start_prometheus stops it at teardown, before `demo` stops the daemon.
    return await start_prometheus([demo.metrics_address], vantage="e2e", interval=f"{SCRAPE_SECONDS}s")


async def test_every_panel_query_returns_data(demo: DemoDaemon, prometheus: Server) -> None:
    queries = dashboard_queries()
    assert len(queries) > 40
    pending = {q.where: q for q in queries}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DATA_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while pending and loop.time() < deadline and demo.process.poll() is None:
            await asyncio.sleep(3)
            for where, query in list(pending.items()):
                if has_data(await run(http, prometheus, query, demo.started)):
                    del pending[where]
        assert demo.process.poll() is None, "the demo daemon exited"
        assert not pending, "panels with no data:\n" + "\n".join(f"{w}: {q.expr}" for w, q in pending.items())

        # The data says what the incident says: the alias fails, its pinned sibling does not, an alert fires.
        # (Queried again now: a query counted above as soon as its first value appeared.)
        results = {q.where: await run(http, prometheus, q, demo.started) for q in queries}
        (ratio,) = [r for w, r in results.items() if w.endswith("Success ratio by model / A")]
        by_model = {s["metric"]["model"]: float(s["value"][1]) for s in ratio}
        assert by_model[PINNED] == 1.0
        assert by_model[ALIAS] < 0.5
        # The daemon's onset gauge marks the failing alias, never the clean pinned sibling.
        (onsets,) = [r for w, r in results.items() if w.endswith("Failing since / A")]
        failing = {s["metric"]["model"] for s in onsets}
        assert ALIAS in failing, failing
        assert PINNED not in failing, failing
        (alerts,) = [r for w, r in results.items() if w.startswith("overview.json / annotation")]
        firing = {(s["metric"]["alertname"], s["metric"].get("model")) for s in alerts}
        assert ALIAS in {model for _, model in firing}, firing
        assert PINNED not in {model for _, model in firing}, firing
        (info,) = [r for w, r in results.items() if w.endswith("Results by model / info")]
        assert {(s["metric"]["model"], s["metric"]["alias"]) for s in info} == {
            (ALIAS, "true"),
            (PINNED, "false"),
            (RESUMABLE, "false"),
        }

        # Each variable's label_values() lists the demo's values.
        variables = load_dashboards()["overview.json"]["templating"]["list"]
        for variable in (v for v in variables if v["type"] == "query"):
            selector, label = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"]).groups()  # type: ignore[union-attr]
            match = re.sub(r"\$\{?(vantage|endpoint|model|probe)\}?", ".*", selector)
            async with http.get(
                f"{prometheus.url}/api/v1/label/{label}/values", params={"match[]": match}
            ) as r:
                values = (await r.json())["data"]
            assert values, f"${variable['name']} lists nothing"
            if label == "vantage":
                assert values == ["e2e"]
            if label == "model":
                assert set(values) == {ALIAS, PINNED, RESUMABLE}
