"""`live-monitor timeline` and `report` as subprocesses: JSONL and store inputs, and every bad input."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor.store.records import Store
from tests.integration.timeline.records import ALIAS, PINNED, incident_records, sequence_records, write_jsonl


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "records.jsonl", incident_records())


def test_timeline_json_finds_the_onset_and_the_clean_pinned_model(jsonl: Path) -> None:
    result = _run("timeline", "--jsonl", str(jsonl), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    by_model = {s["model"]: s for s in document["series"]}
    alias = by_model[ALIAS]
    assert len(alias["regimes"]) == 2
    onset = alias["onsets"][0]
    # Truth: probe 300 (16:00 + 300 x 30 s = 18:30:00) is the first of the 85% regime.
    assert onset["after"] <= "2026-05-27T18:30:00.000Z" <= onset["before"]
    assert alias["excluded_prober_errors"] == 1
    assert alias["regimes"][1]["failures_by_class"] == {"server_close 1011": alias["regimes"][1]["failures"]}
    assert len(by_model[PINNED]["regimes"]) == 1
    (change,) = document["co_changes"]
    assert [c["model"] for c in change["changed"]] == [ALIAS]
    (pinned,) = [w for w in change["window"] if w["model"] == PINNED]
    assert pinned["failures"] == 0
    assert pinned["trials"] >= 100


def test_timeline_markdown_names_the_onset_window(jsonl: Path) -> None:
    result = _run("timeline", "--jsonl", str(jsonl), "--model", ALIAS)
    assert result.returncode == 0, result.stderr
    assert "| Window (UTC) | Turns | Failures |" in result.stdout
    assert "change between 2026-05-27 18:2" in result.stdout
    assert PINNED not in result.stdout


def test_report_from_the_store_has_incident_sections_and_plot(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    store = Store(db)
    for record in incident_records():
        store.append(record)
    store.close()
    out, plot = tmp_path / "report.md", tmp_path / "rate.png"
    result = _run("report", "--db", str(db), "-o", str(out), "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    sections = [
        "Summary",
        "Timeline",
        "Reproduction",
        "Results per model",
        "Wire-level pattern",
        "Environment",
    ]
    for section in sections:
        assert f"## {section}" in text
    assert f"live-monitor probe --model {ALIAS} --probe text -n 10" in text
    assert f'"model": "models/{ALIAS}"' in text
    assert "`setupComplete → sessionResumptionUpdate → close 1011`" in text
    assert f"| {PINNED} | text |" in text
    assert f"unchanged: {PINNED} (text): 0/" in text
    assert "(clean)" in text
    assert "Vantages: us-west-a" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def _assert_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_jsonl_line_is_named(tmp_path: Path, jsonl: Path) -> None:
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    lines[6] = lines[6][:40]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "report.md"
    result = _run("report", "--jsonl", str(bad), "-o", str(out), "--plot", str(tmp_path / "p.png"))
    _assert_usage_error(result, "line 7", "not JSON")
    assert sorted(tmp_path.iterdir()) == sorted([bad, jsonl])


def test_invalid_record_field_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"run_id": "a", "started_at": "2026-05-27T17:00:00Z", "model": "m", "probe": "video",'
                   ' "outcome": "ok"}\n', encoding="utf-8")  # fmt: skip
    _assert_usage_error(_run("timeline", "--jsonl", str(bad)), "line 1", "video")


def test_empty_store_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "empty.sqlite3"
    Store(db).close()
    out = tmp_path / "report.md"
    _assert_usage_error(_run("report", "--db", str(db), "-o", str(out)), "empty")
    assert not out.exists()


def test_missing_store_is_refused(tmp_path: Path) -> None:
    _assert_usage_error(_run("timeline", "--db", str(tmp_path / "nope.sqlite3")), "no such store")
    assert not (tmp_path / "nope.sqlite3").exists()


def test_unknown_model_lists_the_known_ones(tmp_path: Path, jsonl: Path) -> None:
    out = tmp_path / "r.md"
    result = _run("report", "--jsonl", str(jsonl), "--model", "gemini-9", "-o", str(out))
    _assert_usage_error(result, "unknown model 'gemini-9'", ALIAS)
    assert not out.exists()


def test_unreachable_prometheus_is_refused(tmp_path: Path) -> None:
    with socket.socket() as probe_socket:  # a port nobody listens on: bound, then closed
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    out = tmp_path / "r.md"
    result = _run(
        "report",
        "--prometheus",
        f"http://127.0.0.1:{port}",
        "-o",
        str(out),
        "--plot",
        str(tmp_path / "p.png"),
    )
    _assert_usage_error(result, "cannot reach Prometheus")
    assert list(tmp_path.iterdir()) == []


def test_no_source_and_bad_times_are_refused(jsonl: Path) -> None:
    _assert_usage_error(_run("timeline"), "--db", "--jsonl", "--prometheus")
    _assert_usage_error(_run("timeline", "--jsonl", str(jsonl), "--since", "yesterday"), "--since")
    _assert_usage_error(
        _run("timeline", "--jsonl", str(jsonl), "--since", "2030-01-01T00:00:00Z"), "no probe records"
    )


def test_output_into_a_missing_directory_is_refused(tmp_path: Path, jsonl: Path) -> None:
    result = _run("report", "--jsonl", str(jsonl), "-o", str(tmp_path / "missing" / "r.md"))
    _assert_usage_error(result, "no such directory")


def test_output_that_is_the_store_is_refused_and_the_store_kept(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    store = Store(db)
    for record in incident_records()[:50]:
        store.append(record)
    store.close()
    before = db.read_bytes()
    (tmp_path / "link.md").symlink_to(db)
    for out in (db, tmp_path / "link.md"):
        _assert_usage_error(_run("report", "--db", str(db), "-o", str(out)), f"is the file of --db {db}")
        _assert_usage_error(_run("report", "--db", str(db), "--plot", str(out)), "is the file of --db")
    assert db.read_bytes() == before


def test_output_through_a_symlink_replaces_the_file_it_points_to(tmp_path: Path, jsonl: Path) -> None:
    (tmp_path / "reports").mkdir()
    real = tmp_path / "reports" / "latest.md"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "report.md"
    link.symlink_to(real)
    result = _run("report", "--jsonl", str(jsonl), "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8").startswith("# ")


def test_output_to_a_pipe_is_written_in_place(tmp_path: Path, jsonl: Path) -> None:
    """A FIFO (as /dev/stdout or a device would be) is written to, never renamed over."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    chunks: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as pipe:  # blocks until the report opens the other end
            chunks.append(pipe.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    result = _run("report", "--jsonl", str(jsonl), "-o", str(fifo))
    if reader.is_alive():  # the report renamed over the FIFO instead of opening it: unblock the reader
        with fifo.open("wb"):
            pass
    reader.join(10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert b"".join(chunks).decode().startswith("# ")


def test_output_that_is_a_directory_is_named(tmp_path: Path, jsonl: Path) -> None:
    (tmp_path / "adir").mkdir()
    for option in ("-o", "--plot"):
        result = _run("report", "--jsonl", str(jsonl), option, str(tmp_path / "adir"))
        _assert_usage_error(result, f"cannot write {tmp_path / 'adir'}: Is a directory")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite3"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE foo (x)")
    connection.commit()
    connection.close()
    for path in (empty, other):
        before = path.read_bytes()
        for command in ("timeline", "report"):
            _assert_usage_error(_run(command, "--db", str(path)), "not a live-monitor store")
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3", "other.sqlite3"]


def test_turns_before_the_window_are_judged_against_the_configured_expected_rate(tmp_path: Path) -> None:
    """A model configured at 10% that fails 10% for six hours is not 'already failing' with -c; without the
    config (1%) the same turns are an episode, and the baseline is named as the baseline."""
    model = "gemini-3.1-flash-live-preview"  # expected_failure_rate: 0.1 in the shipped config
    turns = sequence_records(model, "........x." * 36)  # one a minute from 16:00, exactly 10%
    path = write_jsonl(tmp_path / "ten-percent.jsonl", turns)
    window = ["--since", "2026-05-27T21:30:00Z", "--until", "2026-05-27T22:00:00Z"]
    configured = _run("timeline", "--jsonl", str(path), *window, "-c", "config/monitor.yaml")
    assert configured.returncode == 0, configured.stderr
    assert "its own turns before the window: 20/200 failed: every series" in configured.stdout
    assert "already failing" not in configured.stdout
    report = _run("report", "--jsonl", str(path), *window, "-c", "config/monitor.yaml")
    assert report.stdout.startswith("# Gemini Live API — no failure-rate regression found"), report.stdout[
        :200
    ]
    unconfigured = _run("timeline", "--jsonl", str(path), *window)
    assert "expected baseline 1.0% (weighted as 100 turns); already failing before the window" in (
        unconfigured.stdout
    )


def test_report_with_a_vertex_config_names_the_full_resource_and_the_auth(tmp_path: Path) -> None:
    """The reproduction for a Vertex AI endpoint (bearer): the model's full resource name, as the probe
    sends it, and `--auth bearer`; a model configured with realtime_input text adds `--text-path`."""
    from monitor.clock import SYSTEM_CLOCK  # noqa: PLC0415
    from monitor.emulator.oauth import OAuthIssuer  # noqa: PLC0415

    key = OAuthIssuer(SYSTEM_CLOCK).new_service_account(token_uri="https://oauth2.googleapis.com/token")
    (tmp_path / "sa.json").write_text(json.dumps({**key, "project_id": "demo-project"}), encoding="utf-8")
    model = "gemini-live-2.5-flash-native-audio"
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "endpoints:\n  - name: vertex\n    url: wss://us-central1-aiplatform.googleapis.com/ws/"
        "google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent\n    auth: bearer\n"
        f"    credentials_file: {tmp_path / 'sa.json'}\n"
        f"models:\n  - id: {model}\n    text_path: realtime_input\n",
        encoding="utf-8",
    )
    path = write_jsonl(tmp_path / "turns.jsonl", sequence_records(model, "." * 60 + "x" * 20))
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--jsonl", str(path), "-c", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("GOOGLE_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    resource = f"projects/demo-project/locations/us-central1/publishers/google/models/{model}"
    assert f'"model": "{resource}"' in result.stdout
    assert f"live-monitor probe --model {resource} --probe text -n 10 --url " in result.stdout
    assert "BidiGenerateContent --auth bearer --text-path realtime_input\n" in result.stdout
    assert "an OAuth access token, e.g. `$(gcloud auth print-access-token)`, from `GEMINI_API_KEY`" in (
        result.stdout
    )


def test_inputs_no_calendar_or_parser_holds_are_one_line_each(tmp_path: Path, jsonl: Path) -> None:
    """Deep JSON in a line, bytes that are not UTF-8, a duration past the year 1, a stored record that is not
    JSON, a start time no calendar has, and an output device that is full: each one line, exit 2."""
    lines = jsonl.read_bytes().splitlines(keepends=True)
    deep = tmp_path / "deep.jsonl"
    deep.write_bytes(lines[0] + b"[" * 5000 + b"\n")
    _assert_usage_error(
        _run("timeline", "--jsonl", str(deep)), "line 2: not a record (JSON nested too deeply)"
    )
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b"".join(lines[:3]) + b'{"model": "caf\xe9"}\n')
    _assert_usage_error(_run("timeline", "--jsonl", str(latin)), "line 4: not UTF-8 text")
    _assert_usage_error(_run("timeline", "--jsonl", str(jsonl), "--since", "99999999d"), "before the year 1")
    for name, sql, needle in (
        ("record.sqlite3", "UPDATE probe_records SET record = '{bad' WHERE id = 1", "is not a probe record"),
        ("time.sqlite3", "UPDATE probe_records SET started_at_ms = 99999999999999999 WHERE id = 1",
         "a time no calendar has"),
    ):  # fmt: skip
        db = tmp_path / name
        store = Store(db)
        for record in incident_records()[:20]:
            store.append(record)
        store.close()
        connection = sqlite3.connect(db)
        connection.execute(sql)
        connection.commit()
        connection.close()
        _assert_usage_error(_run("report", "--db", str(db)), needle)
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "timeline", "--jsonl", str(jsonl)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "live-monitor: cannot write the output: No space left on device"


def test_a_series_that_changed_apart_inside_a_group_window_is_not_called_unchanged(tmp_path: Path) -> None:
    """model-a fails throughout (its group spans the window), model-b rises 40 minutes in (its own group):
    group one names model-b as changed apart, never as unchanged; model-c stays clean in both."""
    turns = [
        *sequence_records("model-a", "x" * 60),
        *sequence_records("model-b", "." * 40 + "x" * 20),
        *sequence_records("model-c", "." * 60),
    ]
    path = write_jsonl(tmp_path / "two-groups.jsonl", turns)
    text = _run("timeline", "--jsonl", str(path))
    assert text.returncode == 0, text.stderr
    groups = text.stdout.split("## Cross-model view")[1].split("\n- **")[1:]
    assert len(groups) == 2
    assert "changed apart: model-b (text): 20/60 failed over this interval" in groups[0]
    assert "unchanged: model-b" not in text.stdout
    assert "unchanged: model-c (text): 0/60 failed (clean)" in groups[0]
    document = json.loads(_run("timeline", "--jsonl", str(path), "--format", "json").stdout)
    (b_window,) = [w for w in document["co_changes"][0]["window"] if w["model"] == "model-b"]
    assert b_window["changed"] is False
    assert b_window["changed_apart"] == "2026-05-27T16:40:00.000Z"
