"""Renders `docs/dashboards.md` from the generated dashboard JSON: what each panel answers and its queries.

Previews need a running Grafana, so the docs show the next best thing: each panel's question (its
description), its unit and the PromQL behind it, exactly as provisioned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["render_docs"]

_INTRO: Final = """\
# Dashboards

Four Grafana dashboards ship with live-monitor. They are generated from Python
([grafana-foundation-sdk](https://github.com/grafana/grafana-foundation-sdk), pinned in `pyproject.toml`)
by the code in `dashboards/`, and the rendered JSON is committed next to it. This page is generated from the
same code (`python dashboards/generate.py`); do not edit it by hand.

## Provisioning

`config/grafana/provisioning/` is meant to be mounted at `/etc/grafana/provisioning/` in the Grafana
container:

* `datasources/prometheus.yml` creates the Prometheus data source (uid `prometheus`, URL
  `http://prometheus:9090`, the compose service name; edit the file for another Prometheus). Its
  `timeInterval` (15 s) must match the scrape interval: Grafana derives `$__rate_interval` from it.
* `dashboards/live-monitor.yml` is a file provider that loads every `*.json` under
  `/var/lib/grafana/dashboards`, into the folder "Gemini Live". Mount this repository's `dashboards/` there
  read-only (compose: `./dashboards:/var/lib/grafana/dashboards:ro`). Grafana rescans every 30 s, and the
  dashboards are provisioned read-only (`allowUiUpdates: false`): change the Python, not the UI.

## Regenerating

```sh
.venv/bin/python dashboards/generate.py          # rewrites dashboards/*.json and this page
.venv/bin/python dashboards/generate.py --check  # exit 1 if the committed files are stale
.venv/bin/pytest tests/dashboards                # regeneration, lint and metric-name tests
.venv/bin/pytest tests/e2e/test_dashboard_queries.py  # every query against real Prometheus (~30 s)
```

What the tests hold the dashboards to:

* `tests/dashboards/test_generated.py`: the committed JSON and this page are exactly what the code renders;
  schemaVersion 41; unique uids.
* `tests/dashboards/test_lint.py` (in the spirit of grafana/dashboard-linter): every panel, target, variable
  and annotation uses `${datasource}`; the variables are chained, multi-value and all used; every selector
  filters by every variable that names one of the metric's labels; range queries use `$__rate_interval` and
  instant queries `$__range`, only inside `rate`/`increase`, and no counter is read bare; every panel has a
  unit Grafana knows and a description that asks its question; no grid overlap; and every expression passes
  `promtool check rules`.
* `tests/dashboards/test_metric_names.py`: every metric named by a dashboard or by
  `config/prometheus/rules/*.yml` exists in the daemon's real `/metrics` exposition.
* `tests/e2e/test_dashboard_queries.py`: a real `live-monitor run --demo` scraped by a real Prometheus with
  the shipped rules; every panel query, sent as Grafana sends it with every variable at "All", returns data,
  and the firing-alerts annotation shows the alias's alert.

## Conventions every dashboard follows

* **Variables.** `datasource` (any Prometheus data source), then `vantage` -> `endpoint` -> `model` ->
  `probe`, each listing the values of `gemini_live_probe_turns_total` narrowed by the variables before it;
  all are multi-value with "All" (= `.*`, which also matches a series without that label).
* **Filters.** Every query filters each metric by every variable that names one of its labels (`vantage` comes
  from the scrape configuration; `model_info` has no `endpoint` or `probe`, the monitor's own metrics have
  neither `model` nor `probe`).
* **Rate windows.** Graphs over time use `$__rate_interval`; stats and tables that summarise the selected
  period are instant queries over `$__range`. Ratio graphs have a 5-minute minimum interval: at ~2 turns a
  minute, a one-minute ratio holds two Bernoulli trials.
* **Provider turns.** Success and failure ratios leave out `prober_error` (our own bug) and the `quota`/`auth`
  causes (our key and our quota), exactly as the alert rules do.
* **Alerts.** Every dashboard overlays firing `GeminiLive*` alerts (`ALERTS{alertstate="firing"}` from the
  same data source) as red annotations.
"""


def _panel_lines(panel: Mapping[str, Any]) -> list[str]:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    lines = [
        f"#### {panel['title']}",
        "",
        f"{panel.get('description', '')}",
        "",
        f"*{panel['type']}, unit `{unit}`*",
        "",
        "```promql",
    ]
    for target in panel.get("targets", []):
        legend = target.get("legendFormat", "")
        label = f"# {target['refId']}" + (f" (legend {legend})" if legend and legend != "__auto" else "")
        lines += [label, target["expr"]]
    return [*lines, "```", ""]


def _dashboard_lines(file_name: str, dashboard: Mapping[str, Any]) -> list[str]:
    lines = [
        f"## {dashboard['title']}",
        "",
        f"`dashboards/{file_name}`, uid `{dashboard['uid']}`. {dashboard.get('description', '')}",
        "",
    ]
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            lines += [f"### {panel['title']}", ""]
        else:
            lines += _panel_lines(panel)
    return lines


def render_docs(dashboards: Mapping[str, Mapping[str, Any]]) -> str:
    """The whole page, for the dashboards keyed by file name in the order given."""
    lines = [_INTRO]
    first = next(iter(dashboards.values()))
    lines += ["### Variables and annotations", "", "```promql"]
    for variable in first["templating"]["list"]:
        lines.append(f"# ${variable['name']}: {variable['query']}")
    for annotation in first["annotations"]["list"]:
        lines.append(f"# annotation {annotation['name']!r}: {annotation['expr']}")
    lines += ["```", ""]
    for file_name, dashboard in dashboards.items():
        lines += _dashboard_lines(file_name, dashboard)
    return "\n".join(lines).rstrip() + "\n"
