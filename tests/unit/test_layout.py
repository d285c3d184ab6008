"""The package layout reads as the data flows, and every import points down that flow.

live (the wire) -> probe (one run) -> daemon (schedule, export) -> config/web -> analysis -> the service and
the command line; store, log and the emulator sit beside each other, below the daemon. A module may import
from its own package or from a lower layer, never from a higher one nor from a sibling of the same layer:
the emulator shares the wire and the vocabularies, never the scheduler or the store.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "monitor"

LAYERS: dict[str, int] = {
    "__init__": 0,
    "clock": 0,
    "eventloop": 0,
    "text": 0,
    "changepoint": 0,
    "problems": 0,
    "live": 1,
    "probe": 2,
    "emulator": 3,
    "store": 3,
    "log": 3,
    "daemon": 4,
    "config": 5,
    "web": 5,
    "analysis": 6,
    "service": 7,
    "cli": 8,
    "__main__": 9,
}


def _unit(module: str) -> str:
    """The top-level unit a dotted module name under `monitor` belongs to (`monitor.web.app` -> `web`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every `monitor...` module this file imports, at any depth (function bodies and TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "monitor":
                found.update(f"monitor.{alias.name}" for alias in node.names)
            elif node.module.startswith("monitor."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("monitor."))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_top_level_unit_has_a_layer() -> None:
    """A new package or top-level module must be placed in the flow before it can land."""
    units = {_unit(_module_name(path)) for path in SOURCES}
    assert units <= set(LAYERS), f"place these in LAYERS: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down_the_flow(path: Path) -> None:
    """No module imports from a higher layer or from a sibling unit of its own layer."""
    here = _unit(_module_name(path))
    wrong = []
    for imported in sorted(_imports(path)):
        there = _unit(imported)
        if imported == "monitor.__version__" or there == here:
            continue
        if LAYERS[there] >= LAYERS[here]:
            wrong.append(f"{imported} (layer {LAYERS[there]} from layer {LAYERS[here]})")
    assert not wrong, f"{path.name} imports upward or sideways: {wrong}"


def test_the_layer_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The import scanner sees nested imports, so a lazy upward import cannot slip through."""
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    from monitor.web.app import build_app\n    import monitor.daemon.metrics\n"
    )
    assert _imports(source) == {"monitor.web.app", "monitor.daemon.metrics"}
