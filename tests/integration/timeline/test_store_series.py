"""The store's column path (what `timeline --db` and `report --db` read) against the full-JSON path.

Both read the same real SQLite store written through `Store.append`; every series, timeline, cross-model view
and report context must be identical, over edge cases the column path handles on its own: turns sharing a
millisecond (order by insertion), sub-millisecond start times, codeless and coded failure classes, a job with
only prober errors, a vantage missing from some records, and the --model/--since/--until filters.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.analysis.context import build_context
from monitor.analysis.history import StoredRecords, gather, load_store, load_store_series
from monitor.analysis.timeline import Series, build_timeline, cross_model, series_from_records
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.store.records import Store
from tests.integration.timeline.records import ALIAS, INTERVAL, PINNED, START, incident_records

NOW = START + timedelta(days=1)


def _extra_records() -> list[ProbeResult]:
    """Turns the incident data lacks: ties, sub-ms times, several classes, a prober-error-only job."""
    base = START + 100 * INTERVAL + timedelta(microseconds=123_456)  # stored as .123 (ms precision)
    common = {"vantage": "", "endpoint": "gemini-api", "model": ALIAS, "probe": ProbeKind.AUDIO}
    failures = [
        (Outcome.TIMEOUT, Cause.NONE, None),
        (Outcome.SERVER_CLOSE, Cause.INTERNAL, 1011),
        (Outcome.CONNECTION_LOST, Cause.NONE, 1006),
        (Outcome.HANDSHAKE_REJECTED, Cause.NONE, 429),
        (Outcome.OK, Cause.NONE, None),
        (Outcome.PROBER_ERROR, Cause.NONE, None),
    ]
    records = []
    for i in range(240):
        outcome, cause, code = failures[i % len(failures)] if i % 3 == 0 or i > 200 else failures[4]
        # Pairs of turns share a millisecond, written failure-first and ok-first in turn: the order is the id.
        started = base + (i // 2) * INTERVAL + timedelta(microseconds=(i % 2) * 400)
        records.append(
            ProbeResult(
                run_id=f"extra-{i}",
                started_at=started,
                outcome=outcome,
                cause=cause,
                code=code,
                phase=Phase.NONE if outcome in (Outcome.OK, Outcome.PROBER_ERROR) else Phase.FIRST_RESPONSE,
                **common,  # type: ignore[arg-type]
            )
        )
    records += [
        replace(
            records[-1],
            run_id=f"only-bug-{i}",
            model="gemini-prober-bug-only",
            started_at=base + i * INTERVAL,
        )
        for i in range(3)
    ]
    return records


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "store.sqlite3"
    store = Store(path)
    try:
        for record in [*incident_records(), *_extra_records()]:
            assert store.append(record)
    finally:
        store.close()
    return path


def _assert_same_series(fast: list[Series], slow: list[Series]) -> None:
    assert [(s.model, s.probe) for s in fast] == [(s.model, s.probe) for s in slow]
    for a, b in zip(fast, slow, strict=True):
        assert (a.classes, a.resolution, a.excluded) == (b.classes, b.resolution, b.excluded)
        for name in ("times", "trials", "failures", "class_counts"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype, name
            assert x.shape == y.shape, name
            assert np.array_equal(x, y), name


WINDOWS = [
    (None, None, None),
    (ALIAS, None, None),
    (PINNED, START + 50 * INTERVAL, None),
    (None, START + 120 * INTERVAL + timedelta(milliseconds=123), START + 310 * INTERVAL),
    ("gemini-prober-bug-only", None, None),
]


@pytest.mark.parametrize(("model", "since", "until"), WINDOWS)
def test_column_path_gives_the_json_paths_series_and_timelines(
    db: Path, model: str | None, since: datetime | None, until: datetime | None
) -> None:
    slow = series_from_records(load_store(str(db), model, since, until))
    fast = load_store_series(str(db), model, since, until)
    _assert_same_series(fast, slow)
    fast_timelines = [build_timeline(s) for s in fast]
    slow_timelines = [build_timeline(s) for s in slow]
    assert fast_timelines == slow_timelines
    assert cross_model(fast_timelines, fast) == cross_model(slow_timelines, slow)
    if model in (None, ALIAS):
        assert any(t.onsets for t in fast_timelines)  # the comparison covers change points, not just counts


def test_the_extra_cases_reach_the_series(db: Path) -> None:
    series = {(s.model, s.probe): s for s in load_store_series(str(db), None, None, None)}
    audio = series[(ALIAS, "audio")]
    assert audio.classes == ("connection_lost 1006", "handshake_rejected 429", "server_close 1011", "timeout")
    assert audio.excluded > 0
    assert np.any(np.diff(audio.times) == 0)  # ties share a time
    only_bugs = series[("gemini-prober-bug-only", "audio")]
    assert only_bugs.times.size == 0
    assert only_bugs.excluded == 3


@pytest.mark.parametrize(("model", "since", "until"), WINDOWS[:4])
def test_report_context_from_the_store_equals_the_one_from_parsed_records(
    db: Path, model: str | None, since: datetime | None, until: datetime | None
) -> None:
    records = load_store(str(db), model, since, until)
    series = load_store_series(str(db), model, since, until)
    timelines = [build_timeline(s) for s in series]
    co_changes = cross_model(timelines, series)
    stored = StoredRecords(str(db), model, since, until)
    for changes in (co_changes, []):  # with a regression window, and over every record
        lazy = build_context(source="s", records=stored, series=series, co_changes=changes, settings=None)
        eager = build_context(source="s", records=records, series=series, co_changes=changes, settings=None)
        assert lazy == eager
        assert lazy.wire is not None
        assert lazy.wire.success_total > 0
    if model in (None, ALIAS):
        assert any(c.rising for c in co_changes)  # the first pass used a regression window


def test_gather_reads_the_store_through_the_column_path(db: Path) -> None:
    history = gather(
        db=str(db), jsonl=None, prometheus=None, model=None, since=None, until=None, step=None, now=NOW
    )
    assert isinstance(history.records, StoredRecords)
    _assert_same_series(history.series, series_from_records(load_store(str(db), None, None, None)))
    endpoints, vantages = history.records.origins()
    assert (endpoints, vantages) == (["gemini-api"], ["us-west-a"])
