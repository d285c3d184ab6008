"""The status page answers "since when" for every configured job, from the daemon's regime tracker."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import ProbeKind
from monitor.store.records import Store
from monitor.web.status_page import collect_status, render_status_page
from tests.history import ALIAS, ENDPOINT, PINNED, simulate_history

NOW = datetime(2026, 5, 27, 18, 0, tzinfo=UTC)
ONSET = NOW - timedelta(minutes=60)
NEVER_RUN = "gemini-live-2.5-flash-preview"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[str]:
    store = Store(tmp_path / "records.db")
    metrics = ProbeMetrics(CollectorRegistry())
    models = [
        ModelInfo(ALIAS, "f", alias=True),
        ModelInfo(PINNED, "f", alias=False),
        ModelInfo(NEVER_RUN, "g", False),
    ]
    metrics.register_targets(ENDPOINT, models, [ProbeKind.TEXT, ProbeKind.AUDIO])
    for result in simulate_history(NOW - timedelta(hours=2), 120, onset_minute=60):
        store.append(result)
        metrics.observe(result)
    try:
        jobs = collect_status(store, NOW, metrics.regimes)
        yield render_status_page(jobs, now=NOW, models=models)
    finally:
        store.close()


def _row(page: str, model: str, probe: str) -> str:
    rows = re.findall(r"<tr>.*?</tr>", page)
    (row,) = [r for r in rows if f">{model}</a>" in r and f"<td>{probe}</td>" in r]
    return row


def test_a_failing_job_says_since_when_with_its_onset_interval(page: str) -> None:
    """The alias failing since the onset: 'failing since HH:MM (onset between HH:MM and HH:MM UTC ...)'."""
    row = _row(page, ALIAS, "text")
    clock = r"(\d\d:\d\d(?::\d\d)?)"
    match = re.search(rf"failing since {clock}</span> <span class=\"muted\">\(onset between {clock} and", row)
    assert match, row
    moment = match[1] if len(match[1]) == 8 else f"{match[1]}:00"
    since = datetime.strptime(moment, "%H:%M:%S").replace(year=2026, month=5, day=27, tzinfo=UTC)
    assert abs(since - ONSET) <= timedelta(minutes=3)


def test_a_clean_job_says_how_long_it_has_been_healthy(page: str) -> None:
    """The pinned model: healthy for at least as long as the turns held (its first turn was 16:00:0x)."""
    row = _row(page, PINNED, "audio")
    assert 'healthy</span> for at least 1 h 59 min <span class="muted">(since 16:00 UTC)' in row


def test_every_configured_job_has_a_row_before_its_first_turn(page: str) -> None:
    """A configured model that never ran yet is listed, saying 'no turn yet'."""
    row = _row(page, NEVER_RUN, "text")
    assert row.count("no turn yet") == 2  # since-when and last-turn cells


def test_the_sparkline_shows_the_last_hour_of_turns(page: str) -> None:
    """An inline SVG (no script) per row: one tick per turn of the last hour, failures in red."""
    row = _row(page, ALIAS, "text")
    (svg,) = re.findall(r"<svg class=\"spark\".*?</svg>", row)
    ok = len(re.findall(r"v-6", svg))
    failed = len(re.findall(r"v-16", svg))
    assert 55 <= ok + failed <= 61
    assert failed > (ok + failed) / 2
    assert f"last hour: {ok + failed} turns, {failed} failed" in svg
    assert "<script" not in page


def test_render_of_1000_jobs_stays_fast() -> None:
    """Since-when cells and sparklines for 1,000 jobs render in well under the page's 300 ms budget."""
    from monitor.daemon.regime import RegimeTracker  # noqa: PLC0415
    from monitor.web.status_page import WINDOWS, JobStatus, WindowStats  # noqa: PLC0415
    from tests.history import ok_turn  # noqa: PLC0415

    tracker = RegimeTracker()
    for i in range(1000):
        for minute in range(60):
            tracker.record(ok_turn(NOW - timedelta(minutes=60 - minute), model=f"m{i}", probe=ProbeKind.TEXT))
    snapshot = tracker.snapshot()
    empty = tuple(WindowStats(window, 0, 0, 0, None, None) for window in WINDOWS)
    jobs = [
        JobStatus(key[1], ProbeKind.TEXT, None, empty, (), regime, turns)
        for key, (regime, turns) in snapshot.items()
    ]
    started = time.perf_counter()
    html = render_status_page(jobs, now=NOW)
    elapsed = time.perf_counter() - started
    assert html.count('<svg class="spark"') == 1000
    assert elapsed < 1.0  # measured ~0.1 s on the 2-core CI machine; the bound leaves room for load
