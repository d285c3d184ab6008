"""The Overview dashboard: what ops watch all day — is each model answering, how fast, and since when not."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.panels import (
    PROVIDER_TURNS,
    TURNS,
    PanelBuilder,
    Query,
    build_dashboard,
    heatmap_panel,
    ratio_thresholds,
    select,
    stat_panel,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID: Final = "gemini-live-overview"

PHASE: Final = "gemini_live_probe_phase_seconds_bucket"


def _health_row() -> list[PanelBuilder]:
    ok_turns = select(TURNS, 'outcome="ok"')
    judged = select(TURNS, *PROVIDER_TURNS)
    success_ratio = (
        f"sum by (model) (increase({ok_turns}[$__range])) / sum by (model) (increase({judged}[$__range]))"
    )
    last_success = select("gemini_live_probe_last_success_timestamp_seconds")
    onset = select("gemini_live_probe_failure_onset_timestamp_seconds")
    return [
        stat_panel(
            "Success ratio by model",
            "Which models answer their probe turns, over the selected period? Successful turns divided by "
            "the turns that judge the provider (our own prober errors and quota/auth failures excluded, as "
            "in the alert rules). Red below 90 %, orange below 99 %.",
            "percentunit",
            [Query(success_ratio, "{{model}}", instant=True)],
            colours=ratio_thresholds(warn=0.9, ok=0.99),
            size=(12, 6),
            decimals=1,
        ),
        stat_panel(
            "Time since last success",
            "How long ago did each model last complete a turn? A number growing past a few probe intervals "
            "means every recent turn failed.",
            "s",
            [Query(f"time() - max by (model) ({last_success})", "{{model}}", instant=True)],
            size=(6, 6),
            decimals=0,
        ),
        stat_panel(
            "Failing since",
            "Since when has each failing model and probe been failing? The monitor's estimate of the first "
            "failure of the current episode (what the GeminiLiveFailureBurst page quotes as 'Began at'), "
            "earliest vantage; no value while every series is healthy.",
            "dateTimeAsIso",
            [Query(f"1000 * min by (model, probe) ({onset} > 0)", "{{model}} {{probe}}", instant=True)],
            size=(6, 6),
        ),
    ]


def _failure_row() -> list[PanelBuilder]:
    closes_1011 = select(TURNS, 'outcome="server_close"', 'code="1011"')
    judged = select(TURNS, *PROVIDER_TURNS)
    ratio_1011 = (
        f"sum by (model) (rate({closes_1011}[$__rate_interval]))"
        f" / sum by (model) (rate({judged}[$__rate_interval]))"
    )
    outcomes = f"60 * sum by (outcome) (rate({select(TURNS)}[$__rate_interval]))"
    return [
        timeseries_panel(
            "1011 ratio by model",
            "What share of turns does the server close with 1011 (internal error), per model, over time? "
            "Incident 000 went from ~1 % to 80-90 %. Points are at least 5 minutes wide: a shorter ratio "
            "holds too few turns to mean anything.",
            "percentunit",
            [Query(ratio_1011, "{{model}}")],
            min_interval="5m",
        ),
        timeseries_panel(
            "Turns by outcome",
            "How many turns a minute end in each outcome class (ok, server_close, timeout, ...)? A failure "
            "class growing while `ok` shrinks is a regression; the total is the probe rate.",
            "opm",
            [Query(outcomes, "{{outcome}}")],
            stacked=True,
        ),
    ]


def _latency_row() -> list[PanelBuilder]:
    # first_audio has its own heatmap; on the same axis as connect it would flatten the short phases.
    other_phases = select(PHASE, 'phase!="first_audio"')
    first_audio = select(PHASE, 'phase="first_audio"')

    def quantile(q: float) -> str:
        return f"histogram_quantile({q}, sum by (le, phase) (rate({other_phases}[$__rate_interval])))"

    return [
        timeseries_panel(
            "Phase latency p50",
            "How long does a typical turn spend in each phase (connect, setup, first response, turn "
            "complete)? Median over the selected models and probes.",
            "s",
            [Query(quantile(0.5), "{{phase}}")],
            size=(8, 8),
        ),
        timeseries_panel(
            "Phase latency p95",
            "How slow are the slowest turns in each phase? A p95 rising while p50 stays flat points at a "
            "tail problem (queueing, retries) rather than a uniformly slower model.",
            "s",
            [Query(quantile(0.95), "{{phase}}")],
            size=(8, 8),
        ),
        heatmap_panel(
            "First-audio latency",
            "How is time to first audio (turn sent to the first audio chunk) distributed over time? Each "
            "cell counts turns whose first audio arrived within that bucket; a band moving up is a latency "
            "regression users hear.",
            "s",
            Query(f"sum by (le) (increase({first_audio}[$__rate_interval]))", "{{le}}"),
            size=(8, 8),
        ),
    ]


def build() -> Dashboard:
    return build_dashboard(
        UID,
        "Gemini Live — Overview",
        "Per-model health of the Gemini Live API as seen by the synthetic probes: success, 1011 closes, "
        "outcome classes and phase latency. Red annotations mark firing GeminiLive alerts.",
        [
            ("Is it working?", _health_row()),
            ("How is it failing?", _failure_row()),
            ("How fast is it?", _latency_row()),
        ],
    )
