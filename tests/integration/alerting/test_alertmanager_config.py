"""The shipped Alertmanager configs, checked by the real amtool: syntax and the routing tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .test_rules import DESIGN_ALERTS

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config/alertmanager/alertmanager.yml"
EXAMPLE = REPO / "config/alertmanager/alertmanager.example-receivers.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("config", [CONFIG, EXAMPLE], ids=["shipped", "example-receivers"])
def test_amtool_check_config_passes(config: Path) -> None:
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(("name", "severity"), sorted(DESIGN_ALERTS.items()))
def test_each_alert_routes_to_the_receiver_of_its_severity(name: str, severity: str) -> None:
    labels = [f"alertname={name}", f"severity={severity}", "model=gemini-2.5-flash-native-audio-latest"]
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={severity}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == severity


def test_the_other_receiver_is_refused() -> None:
    """The verification itself can fail: a page does not resolve to the ticket receiver."""
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=ticket", "severity=page"
    )
    assert result.returncode != 0


def test_groups_by_alertname_and_model_on_every_route() -> None:
    route = yaml.safe_load(CONFIG.read_text())["route"]
    assert route["group_by"] == ["alertname", "model"]
    assert all("group_by" not in child for child in route["routes"])  # children inherit it
    tree = amtool("config", "routes", f"--config.file={CONFIG}").stdout
    assert '{severity="page"}  receiver: page' in tree
    assert '{severity="ticket"}  receiver: ticket' in tree
