"""Every metric a dashboard or an alert rule reads is one the daemon really exports.

The exposition comes from `monitor.daemon.metrics.ProbeMetrics` on a fresh registry after `register_targets`
and a few realistic results, rendered by prometheus_client's `generate_latest`: the same bytes `/metrics`
serves.
Allowed besides: Prometheus's own series (`up`, `ALERTS`) and recording-rule names (`level:metric:operation`,
which contain colons and are computed by the rules, never exported).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from .conftest import RULES_DIR, load_dashboards, panels
from .promql import metric_names

PROMETHEUS_SERIES = frozenset({"up", "ALERTS"})


def _dashboard_exprs() -> dict[str, str]:
    exprs = {}
    for name, dashboard in load_dashboards().items():
        for panel in panels(dashboard):
            for target in panel["targets"]:
                exprs[f"{name} / {panel['title']} / {target['refId']}"] = target["expr"]
        for annotation in dashboard["annotations"]["list"]:
            exprs[f"{name} / annotation {annotation['name']}"] = annotation["expr"]
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                selector = re.fullmatch(r"label_values\((.*), \w+\)", variable["query"])
                assert selector, variable["query"]
                exprs[f"{name} / ${variable['name']}"] = selector.group(1)
    return exprs


def _rule_exprs(rule_files: list[Path]) -> dict[str, str]:
    exprs = {}
    for path in rule_files:
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                exprs[f"{path.name} / {rule.get('alert') or rule.get('record')}"] = str(rule["expr"])
    return exprs


def _unknown(exprs: dict[str, str], exposition: dict[str, set[str]]) -> dict[str, set[str]]:
    unknown = {}
    for where, expr in exprs.items():
        names = {n for n in metric_names(expr) if ":" not in n} - PROMETHEUS_SERIES - set(exposition)
        if names:
            unknown[where] = names
    return unknown


def test_dashboard_metrics_exist_in_the_exposition(exposition: dict[str, set[str]]) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) > 40
    assert _unknown(exprs, exposition) == {}


def test_rule_metrics_exist_in_the_exposition(exposition: dict[str, set[str]]) -> None:
    rule_files = sorted(RULES_DIR.glob("*.yml"))
    if not rule_files:
        pytest.fail(f"no rule files in {RULES_DIR}")
    exprs = _rule_exprs(rule_files)
    assert exprs
    assert _unknown(exprs, exposition) == {}


def test_the_check_catches_a_misspelt_metric(exposition: dict[str, set[str]]) -> None:
    exprs = {
        "typo": "sum(rate(gemini_live_probe_turn_total[5m]))",
        "suffix": "gemini_live_probe_phase_seconds",
    }
    assert _unknown(exprs, exposition) == {
        "typo": {"gemini_live_probe_turn_total"},
        # A histogram is only exported as _bucket/_sum/_count.
        "suffix": {"gemini_live_probe_phase_seconds"},
    }
