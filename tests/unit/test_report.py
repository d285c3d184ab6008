"""The incident report: facts come from records and the config, and a key never reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.analysis.report import build_context, render_report
from monitor.analysis.timeline import build_timeline, cross_model, series_from_records
from monitor.config.settings import load_settings
from tests.integration.timeline.records import ALIAS, incident_records

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
    assert f"live-monitor probe --model {ALIAS} --probe text -n 10 --url wss://" in text
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
