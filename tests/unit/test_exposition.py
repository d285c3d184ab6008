"""The cached /metrics body: the same samples as prometheus-client's encoder, at most 80 series a job."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon.metrics import ModelInfo, ProbeMetrics
from monitor.probe.outcome import ProbeKind
from monitor.probe.record import Recovery, RecoveryKind, RecoveryOutcome
from tests.history import ALIAS, ENDPOINT, PINNED, incident_000_failure, ok_turn

AT = datetime(2026, 5, 27, 17, 42, tzinfo=UTC)
MODELS = [
    ModelInfo(ALIAS, "gemini-2.5-flash-native-audio", alias=True),
    ModelInfo(PINNED, "gemini-2.5", False),
]
PROBES = [ProbeKind.TEXT, ProbeKind.AUDIO]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def an_incident(metrics: ProbeMetrics) -> None:
    """Ok turns, then incident 000's 1011 with a resumed recovery and one with a failed fresh recovery."""
    for model in (ALIAS, PINNED):
        for probe in PROBES:
            for minute in range(5):
                metrics.observe(ok_turn(AT + timedelta(minutes=minute), model=model, probe=probe))
            resumed = Recovery(kind=RecoveryKind.RESUMED, outcome=RecoveryOutcome.OK, seconds=1.2)
            fresh = Recovery(kind=RecoveryKind.FRESH, outcome=RecoveryOutcome.FAILED, seconds=3.0)
            metrics.observe(incident_000_failure(AT, model=model, probe=probe, recovery=resumed))
            metrics.observe(incident_000_failure(AT, model=model, probe=probe, recovery=fresh))


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ProbeMetrics:
    probe_metrics = ProbeMetrics(registry)
    probe_metrics.register_targets(ENDPOINT, MODELS, PROBES)
    return probe_metrics


async def test_cached_body_has_exactly_the_registry_samples(
    registry: CollectorRegistry, metrics: ProbeMetrics
) -> None:
    """The bytes /metrics serves parse to the same series and values as generate_latest(registry)."""
    an_incident(metrics)
    metrics.observe_schedule_lag(0.004)
    built = await metrics.exposition.body()
    body = b"".join(built.chunks)
    assert samples(body.decode()) == samples(generate_latest(registry).decode())
    assert gzip.decompress(built.gzipped) == body
    assert built.size == len(body)
    assert b"_created" not in body


async def test_at_most_80_series_per_job_through_an_incident(metrics: ProbeMetrics) -> None:
    """Every (model, probe) job, after ok turns, 1011s and both recovery kinds, exports at most 80 series."""
    an_incident(metrics)
    body = b"".join((await metrics.exposition.body()).chunks).decode()
    per_job = Counter(
        (labels["model"], labels["probe"])
        for (_, items) in samples(body)
        if "probe" in (labels := dict(items))
    )
    assert len(per_job) == 4
    assert max(per_job.values()) <= 80, per_job
    # model_info is one series per model, shared by its probes; the process-wide metrics are a few dozen.
    assert len(samples(body)) <= 80 * len(per_job) + 40


async def test_a_recorded_turn_rebuilds_the_body_and_nothing_else_does(metrics: ProbeMetrics) -> None:
    """Scrapes between two turns get the same bytes object; the next turn's count shows in the next one."""
    first = await metrics.exposition.body()
    assert await metrics.exposition.body() is first
    metrics.observe(ok_turn(AT, model=PINNED))
    second = await metrics.exposition.body()
    assert second is not first
    ok = ("gemini_live_probe_turns_total", frozenset(
        {"endpoint": ENDPOINT, "model": PINNED, "probe": "text", "outcome": "ok", "cause": "none", "code": "",
         "phase": ""}.items()
    ))  # fmt: skip
    assert samples(b"".join(first.chunks).decode())[ok] == 0
    assert samples(b"".join(second.chunks).decode())[ok] == 1


async def test_concurrent_scrapes_share_one_build(metrics: ProbeMetrics) -> None:
    """Fifty scrapes arriving together while the body is stale are all served the same bytes."""
    metrics.observe(ok_turn(AT, model=PINNED))
    bodies = await asyncio.gather(*(metrics.exposition.body() for _ in range(50)))
    assert len({id(body) for body in bodies}) == 1


async def test_label_values_are_escaped(registry: CollectorRegistry) -> None:
    """A model name with a quote, a backslash and a newline round-trips through the text format."""
    metrics = ProbeMetrics(registry)
    odd = 'odd"model\\with\nnewline'
    metrics.register_targets(ENDPOINT, [ModelInfo(odd, "f", False)], [ProbeKind.TEXT])
    metrics.observe(ok_turn(AT, model=odd))
    body = b"".join((await metrics.exposition.body()).chunks).decode()
    assert {dict(labels).get("model") for (_, labels) in samples(body)} >= {odd}
    assert samples(body) == samples(generate_latest(registry).decode())


async def test_a_huge_token_count_is_clamped_not_a_crash(
    registry: CollectorRegistry, metrics: ProbeMetrics
) -> None:
    """A server reporting a 400-digit token count cannot break the metrics update."""
    from dataclasses import replace  # noqa: PLC0415

    metrics.observe(replace(ok_turn(AT, model=PINNED), response_tokens=10**400))
    labels = {"endpoint": ENDPOINT, "model": PINNED, "probe": "text", "direction": "response"}
    assert registry.get_sample_value("gemini_live_probe_tokens_total", labels) == 2.0**53
