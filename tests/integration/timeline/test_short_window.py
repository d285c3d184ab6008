"""`timeline --since 30m` on a real SQLite store: the issue's demo cases, as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.store.records import Store
from tests.integration.timeline.records import ALIAS, PINNED, sequence_records

MINUTE = timedelta(minutes=1)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120, check=False
    )


def _store(path: Path, outcomes: dict[str, str], *, start: datetime) -> Path:
    store = Store(path)
    try:
        for model, text in outcomes.items():
            store.append_many(sequence_records(model, text, start=start))
    finally:
        store.close()
    return path


def test_fresh_window_after_a_clean_history_brackets_the_onset(tmp_path: Path) -> None:
    """An hour of clean turns, then ok, ok, ok, 1011, 1011, ok, 1011, 1011: `--since 10m` finds the onset."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - 68 * MINUTE  # 60 turns before the window, the 8 in it (the last a minute ago)
    db = _store(tmp_path / "s.sqlite3", {ALIAS: "." * 60 + "...xx.xx", PINNED: "." * 68}, start=start)
    result = _run("timeline", "--db", str(db), "--since", "9m", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    alias = next(s for s in document["series"] if s["model"] == ALIAS)
    assert alias["prior"] == {"source": "history", "failures": 0, "trials": 60, "failing_since": None}
    (onset,) = alias["onsets"]
    assert [r["trials"] for r in alias["regimes"]] == [3, 5]
    last_ok, first_failure = start + 62 * MINUTE, start + 63 * MINUTE
    assert onset["after"] == last_ok.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert onset["before"] == first_failure.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert document["window"]["first_turn"] == (start + 60 * MINUTE).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert "generated" in document


def test_window_failing_throughout_reports_failing_since_at_least_and_widen_since(tmp_path: Path) -> None:
    """After `run --demo --demo-onset 30s`: two models fail from the first turn, never 'no regression'."""
    now = datetime.now(UTC).replace(microsecond=0)
    db = _store(
        tmp_path / "s.sqlite3",
        {ALIAS: "xxxx.xxx", "gemini-2.5-flash-native-audio-preview-12-2025": "xx.xxxxx", PINNED: "........"},
        start=now - 8 * MINUTE,
    )
    report = tmp_path / "r.md"
    result = _run("report", "--db", str(db), "-o", str(report), "--plot", str(tmp_path / "p.png"))
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    title = text.splitlines()[0]
    assert "no failure-rate regression found" not in text
    assert "failing since at least" in title
    assert "widen --since" in title
    assert "Window: " in text
    assert f"made {now:%Y-%m-%d}" in text
    assert f"unchanged: {PINNED} (text): 0/8 failed (clean)" in text
    timeline = _run("timeline", "--db", str(db), "--since", "30m")
    assert timeline.returncode == 0, timeline.stderr
    assert f"failing since at least {now - 8 * MINUTE:%Y-%m-%d %H:%M:%S} UTC" in timeline.stdout


def test_baseline_option_sets_the_prior_and_refuses_a_non_rate(tmp_path: Path) -> None:
    """--baseline 0.3 makes 3 failures in 8 ordinary; --baseline 2 is refused with exit 2."""
    now = datetime.now(UTC).replace(microsecond=0)
    db = _store(tmp_path / "s.sqlite3", {ALIAS: "x..x...x"}, start=now - 8 * MINUTE)
    lenient = json.loads(_run("timeline", "--db", str(db), "--baseline", "0.3", "--format", "json").stdout)
    (series,) = lenient["series"]
    assert series["prior"] == {"source": "baseline", "failures": 30, "trials": 100, "failing_since": None}
    assert series["onsets"] == []
    assert series["leading_onset"] is None
    refused = _run("timeline", "--db", str(db), "--baseline", "2")
    assert refused.returncode == 2
    assert "not a failure rate" in refused.stderr


def test_window_inside_an_outage_names_when_the_store_saw_it_begin(tmp_path: Path) -> None:
    """`--since 10m` 20 minutes into an outage: failing since at least the window, and since when before."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - 70 * MINUTE
    db = _store(tmp_path / "s.sqlite3", {ALIAS: "." * 40 + "x.xxxxxxxxx" * 3}, start=start)
    result = _run("timeline", "--db", str(db), "--since", "10m", "--model", ALIAS)
    assert result.returncode == 0, result.stderr
    assert "failing since at least" in result.stdout
    began = (start + 40 * MINUTE).strftime("%Y-%m-%d %H:%M:%S")
    assert f"the turns before the window show this episode since {began} UTC" in result.stdout
    assert f"already failing before the window, since {began} UTC" in result.stdout


def test_timeline_with_the_config_borrows_the_pinned_siblings_for_an_alias(tmp_path: Path) -> None:
    """`timeline -c`: an alias with no history is compared with its clean pinned sibling's turns."""
    now = datetime.now(UTC).replace(microsecond=0)
    db = _store(tmp_path / "s.sqlite3", {ALIAS: "...xxxxx", PINNED: "." * 30}, start=now - 30 * MINUTE)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"models:\n  - id: {ALIAS}\n    family: flash\n    alias: true\n"
        f"  - id: {PINNED}\n    family: flash\n",
        encoding="utf-8",
    )
    result = _run("timeline", "--db", str(db), "-c", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    by_model = {s["model"]: s for s in json.loads(result.stdout)["series"]}
    expected = {"source": "siblings", "failures": 0, "trials": 30, "failing_since": None}
    assert by_model[ALIAS]["prior"] == expected
    assert by_model[PINNED]["prior"]["source"] == "baseline"
    assert len(by_model[ALIAS]["onsets"]) == 1
