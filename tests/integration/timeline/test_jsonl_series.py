"""`--jsonl` decodes only the timeline's fields; its series, timelines and report equal the full-parse path.

The full path is every line through `json.loads` and `ProbeResult.from_record`, as `--jsonl` read before. The
file carries the store test's edge cases (ties, sub-millisecond times, codeless and coded classes, a
prober-error-only job) plus lines the fast decoder refuses and the exact path accepts (a code written as a
string), so those blocks take the line-by-line path and must still agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.analysis.context import build_context
from monitor.analysis.history import HistoryError, gather
from monitor.analysis.timeline import build_timeline, cross_model, series_from_records
from monitor.probe.record import ProbeResult
from tests.integration.timeline.records import ALIAS, INTERVAL, START, incident_records, write_jsonl
from tests.integration.timeline.test_store_series import WINDOWS, _assert_same_series, _extra_records

NOW = START + timedelta(days=1)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_jsonl(
        tmp_path_factory.mktemp("jsonl") / "records.jsonl", [*incident_records(), *_extra_records()]
    )
    odd = json.loads(path.read_text(encoding="utf-8").splitlines()[7])
    odd["code"] = "1011"  # from_record accepts it (int("1011")); the fast decoder wants an integer
    odd["run_id"] = "string-code"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + json.dumps(odd) + "\n\n")
    return path


def _full_parse(
    path: Path, model: str | None, since: datetime | None, until: datetime | None
) -> list[ProbeResult]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = ProbeResult.from_record(json.loads(line))
            in_window = (since is None or record.started_at >= since) and (
                until is None or record.started_at < until
            )
            if in_window and (model is None or record.model == model):
                records.append(record)
    return records


@pytest.mark.parametrize(("model", "since", "until"), WINDOWS)
def test_jsonl_series_equal_the_full_parse(
    jsonl: Path, model: str | None, since: datetime | None, until: datetime | None
) -> None:
    """Same series, timelines and cross-model view as parsing every record."""
    slow = series_from_records(_full_parse(jsonl, model, since, until))
    history = gather(
        db=None, jsonl=str(jsonl), prometheus=None, model=model, since=_iso(since), until=_iso(until),
        step=None, now=NOW,
    )  # fmt: skip
    _assert_same_series(history.series, slow)
    fast_timelines = [build_timeline(s) for s in history.series]
    slow_timelines = [build_timeline(s) for s in slow]
    assert fast_timelines == slow_timelines
    assert cross_model(fast_timelines, history.series) == cross_model(slow_timelines, slow)


@pytest.mark.parametrize(("model", "since", "until"), WINDOWS[:4])
def test_report_context_from_jsonl_equals_the_one_from_parsed_records(
    jsonl: Path, model: str | None, since: datetime | None, until: datetime | None
) -> None:
    """The report reads full records only in its windows, and gets the same ones."""
    history = gather(
        db=None, jsonl=str(jsonl), prometheus=None, model=model, since=_iso(since), until=_iso(until),
        step=None, now=NOW,
    )  # fmt: skip
    records = _full_parse(jsonl, model, since, until)
    timelines = [build_timeline(s) for s in history.series]
    for changes in (cross_model(timelines, history.series), []):
        lazy = build_context(
            source="s", records=history.records, series=history.series, co_changes=changes, settings=None
        )
        eager = build_context(
            source="s", records=records, series=history.series, co_changes=changes, settings=None
        )
        assert lazy == eager


def test_sub_millisecond_times_are_kept_exactly(tmp_path: Path) -> None:
    """A start time with microseconds (an export, not our store) gives the exact float time."""
    record = incident_records()[0].to_record()
    record["started_at"] = "2026-05-27T17:42:00.123456Z"
    path = tmp_path / "us.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    series = gather(
        db=None, jsonl=str(path), prometheus=None, model=None, since=None, until=None, step=None, now=NOW
    ).series
    expected = datetime(2026, 5, 27, 17, 42, 0, 123456, tzinfo=UTC).timestamp()
    assert series[0].times.tolist() == [expected]


def test_a_bad_line_far_into_the_file_is_named(tmp_path: Path, jsonl: Path) -> None:
    """The line-by-line path names the malformed line by its number in the whole file."""
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[300])
    record["outcome"] = "exploded"
    lines[300] = json.dumps(record)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(HistoryError, match="line 301: invalid record: 'exploded'"):
        gather(
            db=None, jsonl=str(bad), prometheus=None, model=None, since=None, until=None, step=None, now=NOW
        )


def test_unknown_model_and_empty_window_are_refused(jsonl: Path) -> None:
    """The same one-line errors as before: the known models listed; no records in the window."""
    with pytest.raises(HistoryError, match=f"unknown model 'gemini-9'; the input has .*{ALIAS}"):
        gather(
            db=None,
            jsonl=str(jsonl),
            prometheus=None,
            model="gemini-9",
            since=None,
            until=None,
            step=None,
            now=NOW,
        )
    later = _iso(START + 100_000 * INTERVAL)
    with pytest.raises(HistoryError, match="no probe records between"):
        gather(
            db=None,
            jsonl=str(jsonl),
            prometheus=None,
            model=None,
            since=later,
            until=None,
            step=None,
            now=NOW,
        )
