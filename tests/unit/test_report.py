"""The incident report: facts come from records and the config, and a key never reaches it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.analysis.context import build_context
from monitor.analysis.plot import bin_seconds, write_plot
from monitor.analysis.prior import DEFAULT_BASELINE, baseline_prior
from monitor.analysis.report import render_report
from monitor.analysis.timeline import (
    CoChange,
    Series,
    SeriesTimeline,
    build_timeline,
    cross_model,
    series_from_records,
)
from monitor.config.settings import load_settings
from tests.integration.timeline.records import ALIAS, PINNED, START, incident_records, sequence_records

CONFIG = """\
vantage: us-west-a
endpoints:
  - name: gemini-api
    url: wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent?alt=json
    auth: query
models:
  - id: gemini-2.5-flash-native-audio-latest
    alias: true
  - id: gemini-2.5-flash-native-audio-preview-09-2025
"""


def test_report_uses_config_facts_and_never_shows_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaENVSECRET")
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = load_settings(str(config))
    records = incident_records()
    series = series_from_records(records)
    timelines = [build_timeline(s) for s in series]
    co_changes = cross_model(timelines, series)
    context = build_context(
        source="test", records=records, series=series, co_changes=co_changes, settings=settings
    )
    text = render_report(timelines, co_changes, series, context)
    assert "SECRET" not in text
    assert "?alt=json" in text  # the configured URL, as is (check-config refuses one carrying a credential)
    assert "- API version: v1alpha" in text
    assert "- Auth: API key as the ?key= query parameter" in text
    assert f"live-monitor probe --model {ALIAS} --probe text -n 10 --url 'wss://" in text  # ? is a glob
    assert "- Quota guards: sessions_per_minute 30" in text


def test_report_without_config_says_what_it_does_not_know() -> None:
    records = incident_records()
    series = series_from_records(records)
    timelines = [build_timeline(s) for s in series]
    co_changes = cross_model(timelines, series)
    context = build_context(
        source="test", records=records, series=series, co_changes=co_changes, settings=None
    )
    text = render_report(timelines, co_changes, series, context)
    assert "- Auth: not known (pass -c with the monitor config)" in text
    assert "API version" not in text
    assert "Quota guards" not in text
    assert "- Endpoint: gemini-api\n" in text
    assert "- prober_error turns excluded (our own failures, never the provider's): 1" in text


# -- short windows: the window, the counts, the words -------------------------------------------------------


def _short_window(outcomes: dict[str, str]) -> tuple[list[SeriesTimeline], list[CoChange], list[Series]]:
    records = [r for model, text in outcomes.items() for r in sequence_records(model, text)]
    series = series_from_records(records)
    prior = baseline_prior(DEFAULT_BASELINE)
    timelines = [build_timeline(s, prior=prior) for s in series]
    return timelines, cross_model(timelines, series), series


def test_report_states_its_window_and_when_it_was_made_in_utc() -> None:
    """The report's first lines give the absolute window and the time it was made, once, in UTC."""
    timelines, co_changes, series = _short_window({ALIAS: "...xx.xx", PINNED: "........"})
    made = datetime(2026, 5, 27, 16, 30, 5, tzinfo=UTC)
    context = build_context(
        source="test", records=None, series=series, co_changes=co_changes, settings=None,
        window=(START, START + timedelta(minutes=30)), made=made,
    )  # fmt: skip
    text = render_report(timelines, co_changes, series, context)
    assert "Window: 2026-05-27 16:00:00 → 2026-05-27 16:30:00 UTC (16 turns" in text
    assert "made 2026-05-27 16:30:05 UTC" in text
    assert text.count("Window: ") == 1
    assert "no failure-rate regression found" not in text
    assert "(no change" not in text  # the '4/7 failed (no change)' is an onset now
    # One set of counts: the changed series from its onset, as its regimes table shows (4 of 5 failed).
    assert f"- {ALIAS} (text): between 2026-05-27 16:02:00 and 2026-05-27 16:03:00 UTC" in text
    assert "4/5 failed since" in text
    assert "| 2026-05-27 16:03:00 → 2026-05-27 16:07:00 | 5 | 4 |" in text
    assert f"unchanged: {PINNED} (text): 0/5 failed (clean)" in text


def test_a_window_failing_throughout_says_failing_since_at_least_and_widen_since() -> None:
    """Two models failing from the first turn: the title names them and says to widen --since."""
    timelines, co_changes, series = _short_window({ALIAS: "xxxx.xxx", PINNED: "x.xxxxxx"})
    context = build_context(source="test", records=None, series=series, co_changes=co_changes, settings=None)
    text = render_report(timelines, co_changes, series, context)
    title = text.splitlines()[0]
    assert "failing since at least 2026-05-27 16:00:00 UTC; widen --since" in title
    assert ALIAS in title
    assert "failing since at least 2026-05-27 16:00:00 UTC, the window's first turn" in text
    assert "7/8 failed since" in text


def test_model_names_from_the_store_cannot_rewrite_the_report() -> None:
    """A model name with Markdown/HTML in it is shown as text, never as a link, heading or tag."""
    hostile = "m](http://evil.example)<img src=x>```\n# owned"
    timelines, co_changes, series = _short_window({hostile: "...xxxxx"})
    text = render_report(
        timelines, co_changes, series,
        build_context(source="test", records=None, series=series, co_changes=co_changes, settings=None),
    )  # fmt: skip
    # Outside code blocks (whose fences are longer than any backtick run inside) nothing is markup.
    prose = re.sub(r"(?ms)^(`{3,})\w*\n.*?^\1$", "", text)
    assert "](http://evil.example)" not in prose
    assert "<img" not in prose
    assert "\n# owned" not in prose
    assert "````sh" in text  # the fence outgrows the name's backticks


def test_plot_bins_suit_the_window() -> None:
    """Dots are binned at a nameable width giving at most 24 bins, never finer than a Prometheus step."""
    assert bin_seconds(8 * 60) == 60
    assert bin_seconds(6 * 3600) == 900
    assert bin_seconds(86400) == 3600
    assert bin_seconds(30 * 60, resolution=120) == 120


def test_plot_is_written_with_and_without_a_change(tmp_path: Path) -> None:
    """A PNG is written whether a model has an onset (shaded) or none (a line of text instead)."""
    timelines, _, series = _short_window({ALIAS: "...xxxxx", PINNED: "........"})
    target = tmp_path / "plot.png"
    write_plot(str(target), timelines, series, made=datetime(2026, 5, 27, 16, 30, tzinfo=UTC))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
