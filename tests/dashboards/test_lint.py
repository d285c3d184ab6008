"""Lint rules in the spirit of grafana/dashboard-linter, made precise for these dashboards.

* datasource: one `datasource` variable of type prometheus; every panel, target, query variable and
  annotation queries `${datasource}` (panel-datasource-rule, template-datasource-rule).
* variables: `vantage`, `endpoint`, `model`, `probe`, multi-value with "All" = `.*`, each narrowed by the
  ones before it, and every variable used by some query.
* filters: every selector of a metric filters by every variable that names one of the metric's labels, as
  the daemon's real exposition (plus the scrape's `vantage`) shows them.
* rate windows (target-rate-interval-rule, extended to increase): every range in a range query is
  `$__rate_interval`; every range in an instant query is `$__range` (stats and tables summarise the
  selected period). Only rate() and increase() take ranges; a `_total` counter is only read through them
  (target-counter-agg-rule).
* panels: title, a description that asks the question the panel answers, a known Grafana unit, unique ids,
  unique non-empty refIds, no overlapping grid rectangles (panel-title-description-rule, panel-units-rule).
* syntax: every expression, with the Grafana variables substituted, passes `promtool check rules`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models import units

from .conftest import SCRAPE_LABELS, load_dashboards, panels
from .promql import metric_names, range_windows, selectors, windowed_calls

DATASOURCE_UID = "${datasource}"
FILTER_VARIABLES = ("vantage", "endpoint", "model", "probe")
DASHBOARDS = load_dashboards()
GRAFANA_UNITS = {
    value for name, value in vars(units).items() if not name.startswith("_") and isinstance(value, str)
}


def _targets(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, target) for panel in panels(dashboard) for target in panel["targets"]]


def _all_queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for _, target in _targets(dashboard)]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"]]
    return exprs


def substitute(expr: str, *, rate_interval: str = "5m", range_: str = "6h") -> str:
    """The expression as Grafana sends it with every variable at "All"."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    return re.sub(r"\$\{?(vantage|endpoint|model|probe)\}?", ".*", expr)


dashboard_params = pytest.mark.parametrize("name", sorted(DASHBOARDS))


@dashboard_params
def test_datasource_variable_and_every_query_use_it(name: str) -> None:
    dashboard = DASHBOARDS[name]
    variables = dashboard["templating"]["list"]
    datasource = [v for v in variables if v["type"] == "datasource"]
    assert [(v["name"], v["query"], v["label"]) for v in datasource] == [
        ("datasource", "prometheus", "Data source")
    ]
    for panel, target in _targets(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
    for variable in variables:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID, variable["name"]
    for annotation in dashboard["annotations"]["list"]:
        assert annotation["datasource"]["uid"] == DATASOURCE_UID


@dashboard_params
def test_filter_variables_are_chained_multi_value_and_used(name: str) -> None:
    dashboard = DASHBOARDS[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", *FILTER_VARIABLES]
    for index, label in enumerate(FILTER_VARIABLES):
        variable = variables[label]
        assert (variable["type"], variable["multi"], variable["includeAll"], variable["allValue"]) == (
            "query",
            True,
            True,
            ".*",
        )
        query = variable["query"]
        assert query.startswith("label_values(gemini_live_probe_turns_total{")
        assert query.endswith(f", {label})")
        for prior in FILTER_VARIABLES[:index]:
            assert f'{prior}=~"${prior}"' in query, f"${label} is not narrowed by ${prior}"
    queries = " ".join(_all_queries(dashboard))
    for label in FILTER_VARIABLES:
        assert f"${label}" in queries, f"variable {label} is never used by a panel"


@dashboard_params
def test_every_selector_filters_by_every_applicable_variable(
    name: str, exposition: dict[str, set[str]]
) -> None:
    for panel, target in _targets(DASHBOARDS[name]):
        for selector in selectors(target["expr"]):
            labels = exposition.get(selector.metric, set()) | SCRAPE_LABELS
            if selector.metric == "up":
                labels = SCRAPE_LABELS
            for variable in FILTER_VARIABLES:
                values = selector.values(variable)
                if variable in labels:
                    assert values == [f"${variable}"], (
                        f"{panel['title']}: {selector.metric} ignores ${variable}"
                    )
                else:
                    assert not values, f"{panel['title']}: {selector.metric} has no label {variable}"


def test_alert_annotation_reads_firing_gemini_live_alerts_for_the_selection() -> None:
    for dashboard in DASHBOARDS.values():
        (annotation,) = dashboard["annotations"]["list"]
        (selector,) = selectors(annotation["expr"])
        assert selector.metric == "ALERTS"
        assert ("alertstate", "=", "firing") in selector.matchers
        assert ("alertname", "=~", "GeminiLive.*") in selector.matchers
        # Matching "" as well keeps alerts that carry no such label (GeminiLiveMonitorDown has no model).
        for variable in FILTER_VARIABLES:
            assert selector.values(variable) == [f"${variable}|"]


@dashboard_params
def test_rate_windows_follow_the_query_type(name: str) -> None:
    for panel, target in _targets(DASHBOARDS[name]):
        expr = target["expr"]
        expected = "$__range" if target.get("instant") else "$__rate_interval"
        calls = windowed_calls(expr)
        assert len(calls) == len(range_windows(expr)), f"{panel['title']}: a range outside rate/increase"
        for function, window in calls:
            assert function in {"rate", "increase"}, f"{panel['title']}: {function}"
            kind = "instant" if target.get("instant") else "range"
            assert window == expected, f"{panel['title']}: {function}[{window}] in a {kind} query"
        for counter in {s.metric for s in selectors(expr) if s.metric.endswith("_total")}:
            uses = re.findall(rf"(?<![\w:]){counter}\{{", expr)
            wrapped = re.findall(rf"\b(?:rate|increase)\(\s*{counter}\{{", expr)
            assert len(uses) == len(wrapped), f"{panel['title']}: {counter} read outside rate/increase"


@dashboard_params
def test_every_panel_has_title_question_unit_and_a_place(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["editable"] is False
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        area = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    for panel in panels(dashboard):
        assert panel["title"].strip()
        assert "?" in panel.get("description", ""), f"{panel['title']}: description must say what it answers"
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit in GRAFANA_UNITS, f"{panel['title']}: unit {unit!r}"
        refs = [t["refId"] for t in panel["targets"]]
        assert all(refs), panel["title"]
        assert len(set(refs)) == len(refs), panel["title"]
        assert panel["targets"], panel["title"]


def test_every_expression_parses_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by scripts/install-servers.sh"
    rules = []
    for dashboard in DASHBOARDS.values():
        for expr in _all_queries(dashboard):
            rules.append({"record": f"dashboard:query:{len(rules)}", "expr": substitute(expr)})
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                # label_values(selector, label) is Grafana's; its selector must be valid PromQL.
                inner = re.fullmatch(r"label_values\((.*), \w+\)", variable["query"])
                assert inner, variable["query"]
                rules.append(
                    {"record": f"dashboard:variable:{len(rules)}", "expr": substitute(inner.group(1))}
                )
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_promql_reader_sees_names_and_windows() -> None:
    # The lint rules are only as good as this reader; pin its behaviour on a known expression.
    expr = (
        'sum by (le) (rate(a_bucket{x=~"$x", y="{b}"}[$__rate_interval]))'
        " / on (m) group_left (f) max by (m, f) (c)"
    )
    assert metric_names(expr) == {"a_bucket", "c"}
    assert [s.metric for s in selectors(expr)] == ["a_bucket"]
    assert selectors(expr)[0].values("y") == ["{b}"]
    assert windowed_calls(expr) == [("rate", "$__rate_interval")]
