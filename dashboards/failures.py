"""The Failures and recovery dashboard: where turns fail, why, how soon, and how fast a client gets back."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.panels import (
    PROVIDER_FAILURES,
    TURNS,
    PanelBuilder,
    Query,
    build_dashboard,
    heatmap_panel,
    ratio_thresholds,
    select,
    stat_panel,
    table_panel,
    timeseries_panel,
)

__all__ = ["UID", "build"]

UID: Final = "gemini-live-failures"

FAILURE_BUCKETS: Final = "gemini_live_probe_failure_seconds_bucket"
RECOVERIES: Final = "gemini_live_probe_recoveries_total"
RECOVERY_BUCKETS: Final = "gemini_live_probe_recovery_seconds_bucket"


def _failures_per_minute(by: str, *matchers: str) -> str:
    return f"60 * sum by ({by}) (rate({select(TURNS, *PROVIDER_FAILURES, *matchers)}[$__rate_interval]))"


def _where_and_why() -> list[PanelBuilder]:
    failed = select(TURNS, *PROVIDER_FAILURES)
    return [
        timeseries_panel(
            "Failures by phase",
            "Where in the session do turns fail: connect, setup, first response, streaming or the tool "
            "call? Incident 000's 1011s all fell between the turn and the first response.",
            "opm",
            [Query(_failures_per_minute("phase"), "{{phase}}")],
            stacked=True,
            size=(8, 8),
        ),
        timeseries_panel(
            "Failures by close code",
            "Which WebSocket close codes (1011, 1006, 1008, ...) or HTTP statuses at the upgrade end the "
            "failing turns? Failures without a code (timeouts, empty turns) are not shown here.",
            "opm",
            [Query(_failures_per_minute("code", 'code!=""'), "{{code}}")],
            stacked=True,
            size=(8, 8),
        ),
        timeseries_panel(
            "Failures by cause",
            "Why do turns fail, normalised from close code and reason (internal, unavailable, deadline, "
            "goaway, ...)? Quota and auth causes are our own setup and are left to the credentials alert.",
            "opm",
            [Query(_failures_per_minute("cause"), "{{cause}}")],
            stacked=True,
            size=(8, 8),
        ),
        table_panel(
            "Failure classes over the selected range",
            "Which exact failure classes (model, outcome, cause, code, phase) happened in the selected "
            "range, and how often? The rows a bug report to the provider should quote.",
            "short",
            [
                Query(
                    f"sum by (model, probe, outcome, cause, code, phase) (increase({failed}[$__range])) > 0",
                    ref_id="A",
                    instant=True,
                    table=True,
                )
            ],
            size=(24, 8),
        ),
    ]


def _time_to_failure() -> list[PanelBuilder]:
    failures = select(FAILURE_BUCKETS)

    def quantile(q: float) -> Query:
        expr = f"histogram_quantile({q}, sum by (le, model) (rate({failures}[$__rate_interval])))"
        return Query(expr, f"p{round(q * 100)} {{{{model}}}}", ref_id=f"p{round(q * 100)}")

    return [
        heatmap_panel(
            "Turn-to-failure delay",
            "How long after the turn was sent (or the connect started) does a failing turn fail? Incident "
            "000's 1011s came 0.2-3 s after the turn; failures at the phase budgets are our own timeouts.",
            "s",
            Query(f"sum by (le) (increase({failures}[$__rate_interval]))", "{{le}}"),
        ),
        timeseries_panel(
            "Turn-to-failure delay p50 / p95",
            "Is the failure delay per model stable (one failure mode) or shifting (a new one)?",
            "s",
            [quantile(0.5), quantile(0.95)],
        ),
    ]


def _recovery() -> list[PanelBuilder]:
    attempts = select(RECOVERIES)
    recovered = select(RECOVERIES, 'outcome="ok"')
    times = select(RECOVERY_BUCKETS)

    def quantile(q: float) -> Query:
        expr = f"histogram_quantile({q}, sum by (le, kind) (rate({times}[$__rate_interval])))"
        return Query(expr, f"p{round(q * 100)} {{{{kind}}}}", ref_id=f"p{round(q * 100)}")

    return [
        stat_panel(
            "Recovery success ratio",
            "After a failed turn, how often does one reconnect (fresh, or resumed with the session handle) "
            "get a working session again, over the selected range? Incident 001's client survived 1011s "
            "this way.",
            "percentunit",
            [
                Query(
                    f"sum by (kind) (increase({recovered}[$__range]))"
                    f" / sum by (kind) (increase({attempts}[$__range]))",
                    "{{kind}}",
                    instant=True,
                )
            ],
            colours=ratio_thresholds(warn=0.8, ok=0.95),
            size=(6, 8),
            decimals=1,
        ),
        timeseries_panel(
            "Recovery attempts",
            "How many recoveries a minute are attempted, by kind and result? Every attempt follows a failed "
            "turn, so this is also the rate of failures a resilient client would have papered over.",
            "opm",
            [
                Query(
                    f"60 * sum by (kind, outcome) (rate({attempts}[$__rate_interval]))",
                    "{{kind}} {{outcome}}",
                )
            ],
            stacked=True,
            size=(9, 8),
        ),
        timeseries_panel(
            "Recovery time p50 / p95",
            'How long is incident 001\'s "latency gap": from the failure to a working session again, for '
            "successful recoveries, by kind?",
            "s",
            [quantile(0.5), quantile(0.95)],
            size=(9, 8),
        ),
    ]


def build() -> Dashboard:
    return build_dashboard(
        UID,
        "Gemini Live — Failures and recovery",
        "Failed probe turns by phase, close code and cause; how long after the turn they fail; and how often "
        "and how fast one reconnect recovers (incident 001).",
        [
            ("Where and why turns fail", _where_and_why()),
            ("How soon turns fail", _time_to_failure()),
            ("Recovery", _recovery()),
        ],
    )
