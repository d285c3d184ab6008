"""Renders the dashboards to `dashboards/*.json` and their documentation to `docs/dashboards.md`.

python dashboards/generate.py            write the JSON files and the docs
python dashboards/generate.py --check    exit 1 if any committed file differs from what the code renders
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):
    # Run as a script (`python dashboards/generate.py`): make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import comparison, failures, health, overview
from dashboards.docs import render_docs
from dashboards.panels import with_annotation_format

__all__ = ["DASHBOARDS", "DASHBOARD_DIR", "DOCS_PATH", "render_all", "to_json"]

DASHBOARD_DIR: Final = Path(__file__).resolve().parent
DOCS_PATH: Final = DASHBOARD_DIR.parent / "docs" / "dashboards.md"

# File name -> builder; the order is the order of the docs.
DASHBOARDS: Final[dict[str, Callable[[], Dashboard]]] = {
    "overview.json": overview.build,
    "model-comparison.json": comparison.build,
    "failures-and-recovery.json": failures.build,
    "monitor-health.json": health.build,
}


def to_json(dashboard: Dashboard) -> str:
    """Stable text: sorted keys, two-space indent, trailing newline, so regeneration diffs are meaningful."""
    encoded = with_annotation_format(json.loads(json.dumps(dashboard, cls=JSONEncoder)))
    return json.dumps(encoded, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_all() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {DASHBOARD_DIR / name: to_json(build()) for name, build in DASHBOARDS.items()}
    rendered: dict[str, dict[str, Any]] = {
        name: json.loads(text) for name, text in ((p.name, t) for p, t in files.items())
    }
    files[DOCS_PATH] = render_docs(rendered)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files; write nothing"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in render_all().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
