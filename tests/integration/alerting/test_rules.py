"""The shipped Prometheus rules, checked and unit-tested by the real promtool (2.42).

promtool runs every test file under config/prometheus/tests/ (each alert has a case where it must fire and one
where it must not: asserted below from the files themselves); the rule files pass `check rules` with lint
fatal; the shipped prometheus.yml passes `check config`; and every alert carries severity, summary, a
templated description and a runbook_url whose anchor is a section of docs/runbook.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
RULES = sorted((REPO / "config/prometheus/rules").glob("*.yml"))
TESTS = sorted((REPO / "config/prometheus/tests").glob("*.test.yml"))
RUNBOOK = REPO / "docs/runbook.md"
RUNBOOK_BASE = "https://github.com/live-monitor/live-monitor/blob/main/docs/runbook.md#"
DESIGN_ALERTS = {
    "GeminiLiveFailureBurst": "page",
    "GeminiLiveMonitorDown": "page",
    "GeminiLiveNoProbeTurns": "page",
    "GeminiLiveFailureElevated": "ticket",
    "GeminiLiveAliasDiverged": "ticket",
    "GeminiLiveLatencyRegression": "ticket",
    "GeminiLiveRecoveryFailing": "ticket",
    "GeminiLiveProbeCredentials": "ticket",
    # Issue 7: one vantage (our network) versus every vantage (the provider).
    "GeminiLiveFailureGlobal": "page",
    "GeminiLiveFailureLocal": "ticket",
    # Issue 12: the credential services (ephemeral tokens, OAuth refresh), per endpoint.
    "GeminiLiveTokenService": "page",
}
# Alerts on something that serves every model of an endpoint (or the whole monitor), so they name no model.
_NO_MODEL_LABEL = {"GeminiLiveMonitorDown", "GeminiLiveTokenService"}


def alert_rules() -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"] or []:
                if "alert" in rule:
                    rules[rule["alert"]] = rule
    return rules


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=300, check=False)


def test_rule_files_pass_promtool_check_rules_with_lint_fatal() -> None:
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_prometheus_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", str(REPO / "config/prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


@pytest.mark.parametrize("test_file", TESTS, ids=[t.name for t in TESTS])
def test_promtool_rule_tests_pass(test_file: Path) -> None:
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_generated_baseline_test_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/baseline_test.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_alert_of_the_design_exists_with_its_severity() -> None:
    assert {name: rule["labels"]["severity"] for name, rule in alert_rules().items()} == DESIGN_ALERTS


@pytest.mark.parametrize("name", sorted(DESIGN_ALERTS))
def test_alert_annotations_are_complete_and_link_a_runbook_section(name: str) -> None:
    rule = alert_rules()[name]
    annotations = rule["annotations"]
    assert annotations["summary"].endswith(".")
    assert "{{" not in annotations["summary"]
    if name not in _NO_MODEL_LABEL:
        assert "$labels.model" in annotations["description"]
    if name != "GeminiLiveMonitorDown":  # the scrape target has no model; it names instance and vantage
        assert "humanizePercentage" in annotations["description"]
    assert annotations["runbook_url"] == RUNBOOK_BASE + name.lower()
    headings = re.findall(r"^## (\S+)", RUNBOOK.read_text(), flags=re.MULTILINE)
    assert name in headings


@pytest.mark.parametrize("name", sorted(DESIGN_ALERTS))
def test_every_alert_has_a_firing_and_a_silent_case(name: str) -> None:
    fires, silent = 0, 0
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["alertname"] == name:
                    if check.get("exp_alerts"):
                        fires += 1
                    else:
                        silent += 1
    assert fires >= 1, f"{name}: no promtool case where it must fire"
    assert silent >= 1, f"{name}: no promtool case where it must stay silent"
