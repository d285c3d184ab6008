"""pyproject.toml installs without setuptools' deprecation warnings.

The license is an SPDX expression (PEP 639), the build requires a setuptools that reads it, and no License
classifier stands beside it (that setuptools refuses one). The old `license = {text = ...}` table made every
install print a deprecation warning four times, and the flat layout without `package-dir` made every editable
install print setuptools' "be careful with folders in your working directory" note.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_license_is_an_spdx_expression_read_by_the_required_setuptools() -> None:
    """`license` is a string, setuptools >= 77 is required to build, and no classifier names a license."""
    document = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    project = document["project"]
    assert project["license"] == "Apache-2.0"
    (setuptools,) = [r for r in document["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert minimum is not None, setuptools
    assert int(minimum.group(1)) >= 77
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_editable_install_is_a_plain_path_entry() -> None:
    """`package-dir` names the root explicitly, so setuptools' editable install prints no finder note."""
    document = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    setuptools = document["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"": "."}
    assert setuptools["packages"]["find"]["include"] == ["monitor*"]  # still only the monitor package
