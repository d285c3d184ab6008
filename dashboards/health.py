"""The Monitor health dashboard: is the monitor itself probing on time, and is Prometheus reaching it."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.panels import (
    MONITOR_JOB,
    TURNS,
    PanelBuilder,
    Query,
    build_dashboard,
    select,
    stat_panel,
    table_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID: Final = "gemini-live-monitor-health"


def _is_it_running() -> list[PanelBuilder]:
    up = select("up", f'job="{MONITOR_JOB}"')
    build_info = select("gemini_live_monitor_build_info")
    return [
        stat_panel(
            "Scrape up",
            "Is Prometheus reaching every monitor instance right now? Yes = the last scrape worked. While "
            "it says no, no panel here can be trusted (GeminiLiveMonitorDown pages).",
            "bool_yes_no",
            [Query(f"max by (instance, vantage) ({up})", "{{vantage}} {{instance}}", instant=True)],
            colours=thresholds("red", (1, "green")),
            size=(8, 6),
        ),
        table_panel(
            "Build info",
            "Which version of the monitor runs on each instance? Two versions at once means a rollout is in "
            "progress or stuck.",
            "none",
            [
                Query(
                    f"max by (vantage, instance, version) ({build_info})",
                    ref_id="A",
                    instant=True,
                    table=True,
                )
            ],
            size=(8, 6),
        ),
        timeseries_panel(
            "Probe turns per minute",
            "Is the scheduler running every (model, probe) job at its interval? A line dropping to 0 is a "
            "job that stopped (GeminiLiveNoProbeTurns).",
            "opm",
            [
                Query(
                    f"60 * sum by (model, probe) (rate({select(TURNS)}[$__rate_interval]))",
                    "{{model}} {{probe}}",
                )
            ],
            size=(8, 6),
        ),
    ]


def _is_it_on_time() -> list[PanelBuilder]:
    lag = select("gemini_live_monitor_schedule_lag_seconds_bucket")
    skipped = select("gemini_live_monitor_skipped_total")
    inflight = select("gemini_live_monitor_inflight_sessions")

    def quantile(q: float) -> Query:
        expr = f"histogram_quantile({q}, sum by (le, vantage) (rate({lag}[$__rate_interval])))"
        return Query(expr, f"p{round(q * 100)} {{{{vantage}}}}", ref_id=f"p{round(q * 100)}")

    return [
        timeseries_panel(
            "Schedule lag p50 / p99",
            "How late do probe jobs start compared with when they were due? Milliseconds is healthy; seconds "
            "means a blocked event loop or an overloaded host, and then every latency panel is suspect.",
            "s",
            [quantile(0.5), quantile(0.99)],
            size=(8, 8),
        ),
        timeseries_panel(
            "Skipped runs by reason",
            "How many scheduled runs a minute did not happen, and why: overlap (the previous run was still "
            "going), quota (the session budget was spent) or shutdown?",
            "opm",
            [Query(f"60 * sum by (reason) (rate({skipped}[$__rate_interval]))", "{{reason}}")],
            stacked=True,
            bars=True,
            size=(8, 8),
        ),
        timeseries_panel(
            "In-flight sessions",
            "How many Live API sessions are open right now, per endpoint? It should stay at or below the "
            "configured concurrency; a plateau at the limit means probes queue or are skipped.",
            "short",
            [Query(f"sum by (endpoint) ({inflight})", "{{endpoint}}")],
            size=(8, 8),
        ),
    ]


def build() -> Dashboard:
    return build_dashboard(
        UID,
        "Gemini Live — Monitor health",
        "The monitor watching itself: scrape status, version, probe throughput, schedule lag, skipped runs "
        "and open sessions. Check it before trusting a provider-side conclusion from the other dashboards.",
        [("Is the monitor running?", _is_it_running()), ("Is it probing on time?", _is_it_on_time())],
    )
