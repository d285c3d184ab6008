"""The daemon's regime tracker: since when each series fails or has been healthy, and the onset gauge."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.daemon.regime import RegimeTracker, seed_from_store
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import ProbeResult
from monitor.store.records import Store
from tests.integration.timeline.records import ALIAS, PINNED, START, sequence_records

MINUTE = timedelta(minutes=1)
KEY = ("gemini-api", ALIAS, "text")


def _feed(tracker: RegimeTracker, outcomes: str) -> list[ProbeResult]:
    records = sequence_records(ALIAS, outcomes)
    for record in records:
        tracker.record(record)
    return records


def test_an_onset_is_the_first_failure_of_the_episode() -> None:
    """30 ok then failures: failing since the first failure, its interval between the last ok and it."""
    tracker = RegimeTracker()
    _feed(tracker, "." * 30 + "xxx.x")
    regime, _turns = tracker.snapshot()[KEY]
    assert regime is not None
    assert regime.failing
    assert regime.since == (START + 30 * MINUTE).timestamp()
    assert regime.onset_after == (START + 29 * MINUTE).timestamp()
    assert regime.onset_before == (START + 30 * MINUTE).timestamp()
    assert not regime.open_start


def test_one_failure_at_the_baseline_is_not_an_episode() -> None:
    """A lone 1011 among ok turns leaves the series healthy, healthy since its first turn."""
    tracker = RegimeTracker()
    _feed(tracker, "." * 20 + "x" + "." * 20)
    regime, _ = tracker.snapshot()[KEY]
    assert regime is not None
    assert not regime.failing
    assert regime.since == START.timestamp()
    assert regime.open_start  # healthy for at least as long as the turns held


def test_a_recovery_is_healthy_since_its_first_success() -> None:
    """After an episode, the series is healthy again since the first success of the recovered regime."""
    tracker = RegimeTracker()
    _feed(tracker, "." * 30 + "x" * 8 + "." * 30)
    regime, _ = tracker.snapshot()[KEY]
    assert regime is not None
    assert not regime.failing
    assert regime.since == (START + 38 * MINUTE).timestamp()
    assert not regime.open_start


def test_an_episode_longer_than_the_window_keeps_its_onset() -> None:
    """When the window no longer holds the episode's start, the onset found earlier stays."""
    tracker = RegimeTracker(window=40)
    _feed(tracker, "." * 30 + "x" * 60)
    regime, turns = tracker.snapshot()[KEY]
    assert regime is not None
    assert regime.failing
    assert regime.since == (START + 30 * MINUTE).timestamp()
    assert len(turns) == 40


def test_prober_errors_are_not_provider_turns() -> None:
    """A prober_error turn (our own bug) neither starts an episode nor enters the window."""
    tracker = RegimeTracker()
    tracker.register(KEY)
    (record,) = sequence_records(ALIAS, "x")
    assert tracker.record(replace(record, outcome=Outcome.PROBER_ERROR)) is None
    assert tracker.snapshot()[KEY] == (None, ())


def test_the_gauge_carries_the_onset_and_is_zero_while_healthy() -> None:
    """gemini_live_probe_failure_onset_timestamp_seconds: 0 from registration, the onset while failing."""
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.register_targets("gemini-api", [ModelInfo(ALIAS, "flash", alias=True)], [ProbeKind.TEXT])
    labels = {"endpoint": "gemini-api", "model": ALIAS, "probe": "text"}
    name = "gemini_live_probe_failure_onset_timestamp_seconds"
    assert registry.get_sample_value(name, labels) == 0
    assert metrics.regimes.snapshot()[KEY] == (None, ())  # registered: a row before the first turn
    for record in sequence_records(ALIAS, "." * 30 + "xxxx"):
        metrics.observe(record)
    assert registry.get_sample_value(name, labels) == (START + 30 * MINUTE).timestamp()
    for record in sequence_records(ALIAS, "." * 30, start=START + 34 * MINUTE):
        metrics.observe(record)
    assert registry.get_sample_value(name, labels) == 0


def test_seeding_from_the_store_keeps_an_ongoing_episode_across_a_restart(tmp_path: Path) -> None:
    """A restarted daemon reads each series' recent turns from the store: the onset survives the restart."""
    store = Store(tmp_path / "store.sqlite3")
    try:
        store.append_many(sequence_records(ALIAS, "." * 30 + "xxxxx"))
        store.append_many(sequence_records(PINNED, "." * 35))
        tracker = RegimeTracker(expected_rates={ALIAS: 0.01})
        tracker.register(KEY)
        tracker.register(("gemini-api", PINNED, "text"))
        seeded = seed_from_store(tracker, store, START + 40 * MINUTE)
    finally:
        store.close()
    assert seeded[KEY].failing
    assert seeded[KEY].since == (START + 30 * MINUTE).timestamp()
    assert not seeded[("gemini-api", PINNED, "text")].failing


def test_three_failures_in_a_row_are_not_yet_an_episode() -> None:
    """At a 1% baseline three 1011s in a row leave the series healthy; a fourth: failing since the first."""
    tracker = RegimeTracker()
    _feed(tracker, "." * 30 + "xxx")
    regime, _ = tracker.snapshot()[KEY]
    assert regime is not None
    assert not regime.failing
    (fourth,) = sequence_records(ALIAS, "x", start=START + 33 * MINUTE)
    regime = tracker.record(fourth)
    assert regime is not None
    assert regime.failing
    assert regime.since == (START + 30 * MINUTE).timestamp()
