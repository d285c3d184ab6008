"""Fixtures for the dashboard tests: the committed dashboards and the daemon's real `/metrics` exposition."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon.metrics import ModelInfo, ProbeMetrics, SkipReason
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, Recovery, RecoveryKind, RecoveryOutcome
from tests.history import ALIAS, ENDPOINT, PINNED, PREVIEW, VANTAGE, incident_000_failure, ok_turn

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboards"
RULES_DIR = Path(__file__).resolve().parents[2] / "config" / "prometheus" / "rules"
# Labels Prometheus adds at scrape time (the scrape config sets `vantage`, docs/metrics.md).
SCRAPE_LABELS = frozenset({"vantage", "instance", "job"})


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row."""
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            yield panel


def _timeout(started_at: datetime) -> ProbeResult:
    return ProbeResult(
        run_id="timeout-1",
        started_at=started_at,
        vantage=VANTAGE,
        endpoint=ENDPOINT,
        model=PREVIEW,
        probe=ProbeKind.AUDIO,
        outcome=Outcome.TIMEOUT,
        cause=Cause.DEADLINE,
        phase=Phase.FIRST_RESPONSE,
        timings={TimingPhase.CONNECT: 0.09, TimingPhase.SETUP: 0.3, TimingPhase.FAILURE: 15.0},
        recovery=Recovery(kind=RecoveryKind.FRESH, outcome=RecoveryOutcome.FAILED, seconds=3.1),
    )


@pytest.fixture(scope="session")
def exposition() -> dict[str, set[str]]:
    """Sample name -> label names, from a ProbeMetrics that has seen a few realistic results."""
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.register_targets(
        ENDPOINT,
        [
            ModelInfo(ALIAS, "gemini-2.5-flash-native-audio", alias=True),
            ModelInfo(PREVIEW, "gemini-2.5-flash-native-audio", alias=False),
            ModelInfo(PINNED, "gemini-2.5-flash-native-audio", alias=False),
        ],
        list(ProbeKind),
    )
    now = datetime(2026, 5, 27, 17, 42, tzinfo=UTC)
    metrics.observe(ok_turn(now, model=PINNED))
    metrics.observe(ok_turn(now, model=ALIAS, probe=ProbeKind.AUDIO))
    resumed = Recovery(kind=RecoveryKind.RESUMED, outcome=RecoveryOutcome.OK, seconds=1.4)
    metrics.observe(incident_000_failure(now + timedelta(seconds=5), recovery=resumed))
    metrics.observe(_timeout(now + timedelta(seconds=9)))
    metrics.observe_schedule_lag(0.002)
    metrics.count_skipped(SkipReason.OVERLAP)
    metrics.inflight.labels(endpoint=ENDPOINT).set(2)

    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels
