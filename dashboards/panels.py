"""What every dashboard shares: the datasource, the variables, label selectors and panel constructors.

The selector rule is the one the lint test enforces: a metric is always filtered by every dashboard variable
that names one of its labels (`vantage` comes from the scrape configuration, the rest from the exporter), so
changing a variable changes every panel that can be changed by it.

The rate-window rule, also enforced by the lint test: a range query (a graph over time) takes its rate and
increase windows from `$__rate_interval`; an instant query (a stat or a table that summarises the selected
period) takes them from `$__range`. Ratio panels over time raise the panel's minimum interval instead of
fixing a window, because at ~2 turns a minute a one-minute ratio holds two Bernoulli trials and is noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig, VizLegendOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    GraphDrawStyle,
    HeatmapCellLayout,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
)
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "DATASOURCE",
    "FILTER_LABELS",
    "METRIC_FILTERS",
    "MONITOR_JOB",
    "PROMETHEUS_ANNOTATION_FORMAT",
    "PROVIDER_FAILURES",
    "PROVIDER_TURNS",
    "TURNS",
    "PanelBuilder",
    "Query",
    "build_dashboard",
    "heatmap_panel",
    "ratio_thresholds",
    "select",
    "stat_panel",
    "table_panel",
    "thresholds",
    "timeseries_panel",
    "with_annotation_format",
]

DATASOURCE: Final = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
FILTER_LABELS: Final = ("vantage", "endpoint", "model", "probe")
TAGS: Final = ["gemini-live", "live-monitor"]
# The scrape job of the daemon (config/prometheus/prometheus.yml; the alert rules use the same name).
MONITOR_JOB: Final = "gemini-live-monitor"
# The turns that judge the provider, as the alert rules count them: our own bugs (prober_error) and our own
# key or quota (cause quota/auth) say nothing about the API.
PROVIDER_TURNS: Final = ('outcome!="prober_error"', 'cause!~"quota|auth"')
PROVIDER_FAILURES: Final = ('outcome!~"ok|prober_error"', 'cause!~"quota|auth"')
TURNS: Final = "gemini_live_probe_turns_total"

PanelBuilder = stat.Panel | timeseries.Panel | table.Panel | heatmap.Panel

_PROBE_LABELS: Final = ("vantage", "endpoint", "model", "probe")
# Which variables can filter each metric: its exporter labels (docs/metrics.md's table) plus the scrape's
# `vantage`.
METRIC_FILTERS: Final[dict[str, tuple[str, ...]]] = {
    "gemini_live_probe_turns_total": _PROBE_LABELS,
    "gemini_live_probe_phase_seconds_bucket": _PROBE_LABELS,
    "gemini_live_probe_failure_seconds_bucket": _PROBE_LABELS,
    "gemini_live_probe_success": _PROBE_LABELS,
    "gemini_live_probe_last_success_timestamp_seconds": _PROBE_LABELS,
    "gemini_live_probe_failure_onset_timestamp_seconds": _PROBE_LABELS,
    "gemini_live_probe_recoveries_total": _PROBE_LABELS,
    "gemini_live_probe_recovery_seconds_bucket": _PROBE_LABELS,
    "gemini_live_probe_recovery_seconds_count": _PROBE_LABELS,
    "gemini_live_probe_tokens_total": _PROBE_LABELS,
    "gemini_live_model_info": ("vantage", "model"),
    "gemini_live_monitor_schedule_lag_seconds_bucket": ("vantage",),
    "gemini_live_monitor_skipped_total": ("vantage",),
    "gemini_live_monitor_inflight_sessions": ("vantage", "endpoint"),
    "gemini_live_monitor_build_info": ("vantage",),
    "up": ("vantage",),
}


def select(metric: str, *matchers: str) -> str:
    """`metric{<every applicable variable>, <matchers>}`: a selector that honours the dashboard variables."""
    filters = [f'{label}=~"${label}"' for label in METRIC_FILTERS[metric]]
    return f"{metric}{{{', '.join([*filters, *matchers])}}}"


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target; `legend` is Grafana's legend template (`{{model}}`)."""

    expr: str
    legend: str = ""
    ref_id: str = "A"
    instant: bool = False
    table: bool = False

    def builder(self) -> prometheus.Dataquery:
        target = (
            prometheus.Dataquery()
            .datasource(DATASOURCE)
            .ref_id(self.ref_id)
            .expr(self.expr)
            .legend_format(self.legend or "__auto")
        )
        if self.table:
            target = target.format(PromQueryFormat.TABLE)
        return target.instant() if self.instant else target.range()


def _targets(queries: Sequence[Query]) -> list[cogbuilder.Builder[cogvariants.Dataquery]]:
    refs = [q.ref_id for q in queries]
    if len(set(refs)) != len(refs):
        raise ValueError(f"duplicate refId in {refs}")
    return [q.builder() for q in queries]


def thresholds(base: str, *steps: tuple[float, str]) -> db.ThresholdsConfig:
    """`base` colour below the first step; each (value, colour) applies at or above its value."""
    return (
        db.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(None, base), *(model.Threshold(value, colour) for value, colour in steps)])
    )


def ratio_thresholds(*, warn: float, ok: float) -> db.ThresholdsConfig:
    """Success ratios (0..1): red below `warn`, orange below `ok`, green at or above `ok`."""
    return thresholds("red", (warn, "orange"), (ok, "green"))


def stat_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    colours: db.ThresholdsConfig | None = None,
    size: tuple[int, int] = (6, 5),
    decimals: int | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(size[0])
        .height(size[1])
        .thresholds(colours or thresholds("green"))
        .color_mode(BigValueColorMode.BACKGROUND if colours else BigValueColorMode.VALUE)
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    stacked: bool = False,
    min_interval: str | None = None,
    size: tuple[int, int] = (12, 8),
    bars: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(size[0])
        .height(size[1])
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .fill_opacity(35 if stacked or bars else 10)
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS)
    if min_interval:
        panel = panel.interval(min_interval)
    return panel


def table_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    transformations: Iterable[model.DataTransformerConfig] = (),
    size: tuple[int, int] = (24, 9),
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(size[0])
        .height(size[1])
    )
    for transformation in transformations:
        panel = panel.with_transformation(transformation)
    return panel


def heatmap_panel(
    title: str, description: str, unit: str, query: Query, *, size: tuple[int, int] = (12, 8)
) -> heatmap.Panel:
    """A heatmap of pre-bucketed histogram data: one row per `le`, no recalculation by Grafana."""
    target = query.builder().format(PromQueryFormat.HEATMAP)
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .unit("short")
        .datasource(DATASOURCE)
        .with_target(target)
        .span(size[0])
        .height(size[1])
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .cell_values(heatmap.CellValues().unit("short"))
        .color(
            heatmap.HeatmapColorOptions().mode(HeatmapColorMode.SCHEME).scheme("Oranges").fill("dark-orange")
        )
        .rows_frame(heatmap.RowsHeatmapOptions().layout(HeatmapCellLayout.LE))
    )


def _variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    """datasource, then vantage -> endpoint -> model -> probe, each narrowed by the ones before it."""
    variables: list[cogbuilder.Builder[model.VariableModel]] = [
        db.DatasourceVariable("datasource").label("Data source").type("prometheus")
    ]
    chained: list[str] = []
    for label in FILTER_LABELS:
        narrowing = ", ".join(f'{prior}=~"${prior}"' for prior in chained)
        query = f"label_values(gemini_live_probe_turns_total{{{narrowing}}}, {label})"
        variables.append(
            db.QueryVariable(label)
            .label(label.capitalize())
            .datasource(DATASOURCE)
            .query(query)
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            # ".*" rather than Grafana's list of current values: it also matches a series without the label
            # (a scrape job with no `vantage`) and keeps the query short.
            .all_value(".*")
            .current(model.VariableOption(selected=True, text="All", value="$__all"))
        )
        chained.append(label)
    return variables


def _links() -> list[cogbuilder.Builder[model.DashboardLink]]:
    return [
        db.DashboardLink("Gemini Live dashboards")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(list(TAGS))
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def _alert_annotation() -> db.AnnotationQuery:
    """Firing GeminiLive alerts, matching the selected variables or carrying no such label at all."""
    matchers = ", ".join(f'{label}=~"${label}|"' for label in FILTER_LABELS)
    return (
        db.AnnotationQuery()
        .name("Firing alerts")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .expr(f'ALERTS{{alertstate="firing", alertname=~"GeminiLive.*", {matchers}}}')
    )


# How Grafana's Prometheus data source turns each ALERTS series into an annotation: title, text and tags from
# the alert's labels. The SDK's AnnotationQuery (Grafana's schema) has no fields for these Prometheus-specific
# keys, so `with_annotation_format` adds them to the encoded JSON; the round-trip test allows exactly these.
PROMETHEUS_ANNOTATION_FORMAT: Final[dict[str, object]] = {
    "titleFormat": "{{alertname}}",
    "textFormat": "{{model}} {{endpoint}} {{vantage}} ({{severity}})",
    "tagKeys": "severity,model",
    "step": "30s",
    "useValueForTime": False,
}


def with_annotation_format(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The encoded dashboard with PROMETHEUS_ANNOTATION_FORMAT on each Prometheus annotation."""
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("datasource", {}).get("type") == "prometheus":
            annotation.update(PROMETHEUS_ANNOTATION_FORMAT)
    return dashboard


def build_dashboard(
    uid: str,
    title: str,
    description: str,
    sections: Sequence[tuple[str, Sequence[PanelBuilder]]],
) -> model.Dashboard:
    """A dashboard with the shared variables, links and alert annotations; one row per section."""
    dashboard = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([*TAGS, "generated"])
        .readonly()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(_links())
        .variables(_variables())
        .annotation(_alert_annotation())
    )
    panel_id = 0
    for row_title, panels in sections:
        panel_id += 1
        dashboard = dashboard.with_row(db.Row(row_title).id(panel_id))
        for panel in panels:
            panel_id += 1
            dashboard = dashboard.with_panel(panel.id(panel_id))
    return dashboard.build()
