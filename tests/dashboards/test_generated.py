"""The committed dashboards and docs are exactly what the generator renders today."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.generate import DASHBOARD_DIR, DASHBOARDS, DOCS_PATH, render_all
from dashboards.panels import PROMETHEUS_ANNOTATION_FORMAT

from .conftest import load_dashboards

REPO = Path(__file__).resolve().parents[2]


def test_regenerating_yields_the_committed_files() -> None:
    rendered = render_all()
    assert set(rendered) == {DASHBOARD_DIR / name for name in DASHBOARDS} | {DOCS_PATH}
    for path, text in rendered.items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python dashboards/generate.py"


def test_committed_json_files_are_exactly_the_generated_set() -> None:
    # A dashboard deleted from the code must not linger in the provisioned directory.
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == sorted(DASHBOARDS)


def test_the_script_checks_staleness_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "dashboards/generate.py", "--check"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_use_a_current_schema_and_unique_uids() -> None:
    dashboards = load_dashboards()
    # The pinned SDK build (11.6 flavour) emits schemaVersion 41; the 10.1 flavour would emit 36.
    assert {d["schemaVersion"] for d in dashboards.values()} == {41}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids) == 4
    titles = {d["title"] for d in dashboards.values()}
    assert titles == {
        "Gemini Live — Overview",
        "Gemini Live — Model comparison",
        "Gemini Live — Failures and recovery",
        "Gemini Live — Monitor health",
    }


def test_docs_show_every_panel_and_query() -> None:
    docs = DOCS_PATH.read_text(encoding="utf-8")
    for dashboard in load_dashboards().values():
        assert f"## {dashboard['title']}" in docs
        for panel in dashboard["panels"]:
            assert panel["title"] in docs
            for target in panel.get("targets", []):
                assert target["expr"] in docs
    assert json.dumps("/var/lib/grafana/dashboards")[1:-1] in docs


def _lost(original: object, decoded: object, path: str = "") -> list[str]:
    """Paths of `original` that `decoded` lacks or changed (keys `decoded` adds as defaults are fine)."""
    if isinstance(original, dict) and isinstance(decoded, dict):
        return [
            lost
            for key, value in original.items()
            for lost in (_lost(value, decoded[key], f"{path}/{key}") if key in decoded else [f"{path}/{key}"])
        ]
    if isinstance(original, list) and isinstance(decoded, list) and len(original) == len(decoded):
        pairs = enumerate(zip(original, decoded, strict=True))
        return [lost for i, (a, b) in pairs for lost in _lost(a, b, f"{path}[{i}]")]
    return [] if original == decoded else [f"{path}: {original!r} became {decoded!r}"]


def test_every_key_is_known_to_the_grafana_schema() -> None:
    # The SDK's models are generated from Grafana's CUE schema; decoding drops what the schema does not know
    # (a misspelt option, a field at the wrong level), so a lossless round trip is a schema check.
    register_default_plugins()
    for name, dashboard in load_dashboards().items():
        decoded = json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))
        # The Prometheus annotation keys are the one deliberate addition (dashboards/panels.py says why).
        allowed = {
            f"/annotations/list[{i}]/{key}"
            for i, _ in enumerate(dashboard["annotations"]["list"])
            for key in PROMETHEUS_ANNOTATION_FORMAT
        }
        assert set(_lost(dashboard, decoded)) == allowed, name
