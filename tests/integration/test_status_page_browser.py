"""The status page in a real headless Chromium: models, outcomes, a wire trace opened by a real click."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from monitor.daemon.health import HealthStatus
from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.store.records import Store
from monitor.web.app import build_app
from tests.browser import open_browser
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, simulate_history

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
FAMILY = "gemini-2.5-flash-native-audio"
NEWEST_FAILURE = "newest-1011"
WIRE = f"#run-{NEWEST_FAILURE} table.wire"


class FixedClock:
    def monotonic(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return NOW


class Healthy:
    def check(self) -> HealthStatus:
        return HealthStatus(healthy=True, detail={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "records.db")
    metrics = ProbeMetrics(CollectorRegistry())
    for result in simulate_history(NOW - timedelta(hours=2), 120, onset_minute=60):
        opened.append(result)
        metrics.observe(result)
    newest = incident_000_failure(NOW - timedelta(seconds=20), run_id=NEWEST_FAILURE)
    opened.append(newest)
    yield opened
    opened.close()


@pytest.fixture
async def base_url(aiohttp_server: Callable[..., Awaitable[TestServer]], store: Store) -> str:
    registry = CollectorRegistry()
    models = [ModelInfo(ALIAS, FAMILY, alias=True), ModelInfo(PINNED, FAMILY, alias=False)]
    ProbeMetrics(registry).register_targets(ENDPOINT, models, [ProbeKind.TEXT, ProbeKind.AUDIO])
    app = build_app(registry=registry, store=store, health=Healthy(), clock=FixedClock(), models=models)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    return str(server.make_url("/"))


async def summary_rows(browser: Any) -> list[list[str]]:
    rows: list[list[str]] = await browser.evaluate(
        "[...document.querySelectorAll('table thead + tbody tr')]"
        ".map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return rows


async def visible(browser: Any, selector: str) -> bool:
    """Rendered, not inside a collapsed <details> (whose content Chromium hides with content-visibility)."""
    shown: bool = await browser.evaluate(
        f"document.querySelector({selector!r}).checkVisibility({{contentVisibilityAuto: true}})"
    )
    return shown


async def height(browser: Any, selector: str) -> float:
    box: float = await browser.evaluate(
        f"document.querySelector({selector!r}).getBoundingClientRect().height"
    )
    return box


async def test_page_shows_models_outcomes_and_a_clicked_open_wire_trace(
    base_url: str, tmp_path: Path
) -> None:
    async with open_browser() as browser:
        await browser.navigate(base_url)
        assert await browser.evaluate("document.title") == "live-monitor status"
        rows = await summary_rows(browser)
        by_job = {(row[0], row[1]): row for row in rows}
        assert set(by_job) == {
            (f"{m} {tag}", p) for m, tag in ((ALIAS, "alias"), (PINNED, "pinned")) for p in ("audio", "text")
        }
        pinned_text = by_job[(f"{PINNED} pinned", "text")]
        # Columns: model, probe, since when, last hour (SVG, no text), last turn, success 1 h, ...
        assert pinned_text[4].startswith("ok")
        assert pinned_text[5] == "100.0 % (N=60)"
        alias_text = by_job[(f"{ALIAS} alias", "text")]
        assert alias_text[4].startswith("server_close 1011 20 s ago")
        assert not alias_text[5].startswith("100.0 %")

        # Collapsed: the trace is not rendered and the details box is one summary line high.
        assert await browser.evaluate(f"document.querySelector('#run-{NEWEST_FAILURE}').open") is False
        assert await visible(browser, WIRE) is False
        assert await height(browser, f"#run-{NEWEST_FAILURE}") < 60
        await browser.click(f"#run-{NEWEST_FAILURE} > summary")
        assert await browser.evaluate(f"document.querySelector('#run-{NEWEST_FAILURE}').open") is True
        assert await visible(browser, WIRE) is True
        assert await height(browser, f"#run-{NEWEST_FAILURE}") > 200
        trace = await browser.evaluate(
            f"[...document.querySelectorAll('{WIRE} tr')].slice(1)"
            ".map(r => r.innerText.replace(/\\s+/g, ' ').trim())"
        )
        assert trace == [
            "-0.412 s client → setup",
            "-0.100 s server → setupComplete",
            "+0.000 s client → turn sent (text probe)",
            "+0.120 s server → sessionResumptionUpdate",
            '+1.870 s server → close code=1011 "Internal error encountered."',
        ]
        screenshot = tmp_path / "status.png"
        await browser.screenshot(screenshot)
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert screenshot.stat().st_size > 20_000


async def test_open_parameter_renders_the_trace_expanded(base_url: str) -> None:
    async with open_browser() as browser:
        await browser.navigate(f"{base_url}?open={NEWEST_FAILURE}")
        assert await browser.evaluate(f"document.querySelector('#run-{NEWEST_FAILURE}').open") is True
        assert await visible(browser, WIRE) is True
        assert await browser.evaluate("document.querySelector('meta[http-equiv=refresh]')") is None
        opened = await browser.evaluate("document.querySelectorAll('details[open]').length")
        assert opened == 1


def test_failures_of_the_seeded_history_are_the_ones_listed(store: Store) -> None:
    """Guards the fixture itself: the alias fails after onset, the pinned model never does."""
    newest = store.query(model=ALIAS, probe=ProbeKind.TEXT, limit=1, newest_first=True)[0]
    assert newest.run_id == NEWEST_FAILURE
    assert store.query(model=PINNED, outcomes=[o for o in Outcome if o is not Outcome.OK]) == []
    assert store.query(model=ALIAS, outcomes=[Outcome.SERVER_CLOSE], since=NOW - timedelta(minutes=59))
