"""A store that opens but cannot be read (damaged pages) ends `timeline` and `report` with one line naming the
file and exit 2, like every other bad input: never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.store.records import Store
from tests.integration.timeline.records import incident_records

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store of incident records whose pages after the first few are overwritten with garbage."""
    path = tmp_path_factory.mktemp("damaged") / "store.sqlite3"
    store = Store(path)
    for record in incident_records():
        store.append(record)
    store.close()
    pages = path.stat().st_size // PAGE
    assert pages > 10
    with path.open("r+b") as file:
        for page in range(3, pages):
            file.seek(page * PAGE + 100)
            file.write(b"\xde\xad" * 1000)
    return path


@pytest.mark.parametrize("command", ["timeline", "report"])
def test_a_damaged_store_is_one_line_and_exit_2(command: str, damaged_store: Path) -> None:
    """The command names the store and SQLite's finding on stderr, prints nothing else, and exits 2."""
    result = subprocess.run(
        [sys.executable, "-m", "monitor", command, "--db", str(damaged_store)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"live-monitor {command}: {damaged_store}: cannot read: database disk image is malformed"
    ]
    assert result.stdout == ""
