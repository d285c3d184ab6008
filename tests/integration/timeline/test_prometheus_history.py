"""`timeline --prometheus` against a real Prometheus 2.42 holding backfilled `gemini_live_probe_turns_total`.

The counters are written as OpenMetrics, turned into TSDB blocks by `promtool tsdb create-blocks-from
openmetrics`, and served by `prometheus` on an ephemeral loopback port. The series carries a counter reset (an
exporter restart), a label set born mid-window and prober_error turns, so the per-step reconstruction is
checked against exact known counts.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

ALIAS = "gemini-2.5-flash-native-audio-latest"
PINNED = "gemini-2.5-flash-native-audio-preview-09-2025"
MINUTES = 240
ONSET = 180  # first minute of the 85% regime on the alias
RESTART = 120  # the exporter restarts: every counter starts again from 0
TIMEOUT_BORN = 100  # the alias's first timeout: a new label set appears


@dataclass(frozen=True)
class Backfill:
    start: int  # epoch seconds of minute 0
    turns_after_first_step: dict[
        str, int
    ]  # per model, turns in minutes 1..MINUTES-1 (what the steps can see)


def _label(model: str, outcome: str, cause: str, code: str, phase: str) -> str:
    return (f'endpoint="gemini-api",model="{model}",probe="text",outcome="{outcome}",cause="{cause}",'
            f'code="{code}",phase="{phase}"')  # fmt: skip


def _write_openmetrics(path: Path, start: int) -> dict[str, int]:
    rng = np.random.default_rng(42)
    classes = {
        "ok": ("ok", "none", "", ""),
        "1011": ("server_close", "internal", "1011", "first_response"),
        "timeout": ("timeout", "deadline", "", "first_response"),
        "prober": ("prober_error", "none", "", ""),
    }
    samples: dict[tuple[str, str], list[tuple[int, int]]] = {}
    visible = {ALIAS: 0, PINNED: 0}
    for model in (ALIAS, PINNED):
        totals = dict.fromkeys(classes, 0)
        for minute in range(MINUTES):
            if minute == RESTART:
                totals = dict.fromkeys(classes, 0)
            for _turn in range(2):
                rate = 0.85 if model == ALIAS and minute >= ONSET else (0.01 if model == ALIAS else 0.0)
                kind = "1011" if rng.random() < rate else "ok"
                if model == ALIAS and minute == TIMEOUT_BORN and _turn == 0:
                    kind = "timeout"
                totals[kind] += 1
                if minute > 0:
                    visible[model] += 1
            if model == PINNED and minute == 50:
                totals["prober"] += 1
            for name, value in totals.items():
                born = {"timeout": TIMEOUT_BORN, "prober": 50}.get(name, 0)
                if model == PINNED and name == "timeout":
                    continue
                if model == ALIAS and name == "prober":
                    continue
                if minute >= born or (minute >= RESTART > born):
                    samples.setdefault((model, name), []).append((start + 60 * minute, value))
    lines = [
        "# HELP gemini_live_probe_turns Probe turns by outcome.",
        "# TYPE gemini_live_probe_turns counter",
    ]
    for (model, name), points in samples.items():
        labels = _label(model, *classes[name])
        lines += [f"gemini_live_probe_turns_total{{{labels}}} {value} {stamp}" for stamp, value in points]
    path.write_text("\n".join([*lines, "# EOF", ""]), encoding="utf-8")
    return visible


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Blocks:
    """The backfilled TSDB blocks, built once; each server gets its own copy to write its lock and WAL."""

    root: Path
    backfill: Backfill


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Blocks:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.fail("prometheus/promtool not installed: run scripts/install-servers.sh")
    root = tmp_path_factory.mktemp("prometheus")
    start = (int(time.time()) // 3600 - 6) * 3600  # six hours ago, on the hour: inside retention
    visible = _write_openmetrics(root / "turns.om", start)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(root / "turns.om"),
         str(root / "blocks")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return Blocks(root, Backfill(start, visible))


@contextmanager
def _serve(blocks: Blocks, name: str, web_config: str = "") -> Iterator[str]:
    """A Prometheus on its own copy of the blocks, on an ephemeral loopback port; its base URL."""
    root = blocks.root / name
    shutil.copytree(blocks.root / "blocks", root / "data")
    (root / "prometheus.yml").write_text("global: {}\n", encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        "prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    if web_config:
        (root / "web.yml").write_text(web_config, encoding="utf-8")
        command.append(f"--web.config.file={root / 'web.yml'}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(root / "prometheus.log").open("w"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as error:
                if error.code == 401:  # up, and asking for the password
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prometheus did not start: " + (root / "prometheus.log").read_text()[-2000:])
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def prometheus(blocks: Blocks) -> Iterator[tuple[str, Backfill]]:
    with _serve(blocks, "open") as url:
        yield url, blocks.backfill


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_prometheus_counts_are_exact_and_the_onset_is_placed(prometheus: tuple[str, Backfill]) -> None:
    url, backfill = prometheus
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "timeline", "--prometheus", url, "--format", "json",
         "--since", _iso(backfill.start), "--until", _iso(backfill.start + 60 * (MINUTES - 1))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert "60 s steps" in document["source"]
    by_model = {s["model"]: s for s in document["series"]}
    for model in (ALIAS, PINNED):
        assert by_model[model]["resolution_seconds"] == 60
        assert sum(r["trials"] for r in by_model[model]["regimes"]) == backfill.turns_after_first_step[model]
    assert by_model[PINNED]["excluded_prober_errors"] == 1
    assert len(by_model[PINNED]["regimes"]) == 1
    assert by_model[PINNED]["regimes"][0]["failures"] == 0
    alias = by_model[ALIAS]
    assert len(alias["regimes"]) == 2
    assert alias["regimes"][0]["failures_by_class"].get("timeout") == 1  # the label set born mid-window
    onset = alias["onsets"][0]
    truth = _iso(backfill.start + 60 * ONSET).replace("Z", ".000Z")
    assert onset["after"] <= truth <= onset["before"]


def test_prometheus_unknown_model_is_refused(prometheus: tuple[str, Backfill]) -> None:
    url, backfill = prometheus
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "timeline", "--prometheus", url, "--model", "gemini-9",
         "--since", _iso(backfill.start), "--until", _iso(backfill.start + 3600)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown model 'gemini-9'" in result.stderr


def test_prometheus_report_states_resolution_and_missing_wire_data(
    prometheus: tuple[str, Backfill], tmp_path: Path
) -> None:
    url, backfill = prometheus
    out, plot = tmp_path / "report.md", tmp_path / "plot.png"
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--prometheus", url, "-o", str(out), "--plot", str(plot),
         "--since", _iso(backfill.start), "--until", _iso(backfill.start + 60 * (MINUTES - 1))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "resolution: 60 s steps" in text
    assert f"# Gemini Live API — {ALIAS}: failure rate" in text
    assert "Not available: Prometheus counters carry no message sequences" in text
    assert f"unchanged: {PINNED} (text): 0/" in text
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_prometheus_window_inside_an_outage_reads_its_history_for_the_prior(
    prometheus: tuple[str, Backfill],
) -> None:
    """`--since` 20 minutes into the alias's outage: the counters before the window give the healthy prior and
    the outage's start; the window is 'failing since at least' its first step, never one unchanged regime."""
    url, backfill = prometheus
    since, until = _iso(backfill.start + 60 * (ONSET + 20)), _iso(backfill.start + 60 * (MINUTES - 1))
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "timeline", "--prometheus", url, "--format", "json",
         "--since", since, "--until", until],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    by_model = {s["model"]: s for s in json.loads(result.stdout)["series"]}
    alias = by_model[ALIAS]
    assert alias["prior"]["source"] == "history"
    assert alias["prior"]["failing_since"] is not None
    began = datetime.strptime(alias["prior"]["failing_since"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(began.timestamp() - (backfill.start + 60 * ONSET)) <= 180
    assert alias["leading_onset"]["open_start"] is True
    assert by_model[PINNED]["leading_onset"] is None
    assert by_model[PINNED]["prior"]["failing_since"] is None


def test_prometheus_counts_the_partial_last_step_like_the_store(prometheus: tuple[str, Backfill]) -> None:
    """`--until` half a step after the last whole step: the turns of that partial step are counted too."""
    url, backfill = prometheus
    until = _iso(backfill.start + 60 * (MINUTES - 1) - 30)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "timeline", "--prometheus", url, "--format", "json",
         "--model", PINNED, "--since", _iso(backfill.start), "--until", until],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (pinned,) = json.loads(result.stdout)["series"]
    assert sum(r["trials"] for r in pinned["regimes"]) == backfill.turns_after_first_step[PINNED]


# Prometheus' own basic auth (--web.config.file); the hash is bcrypt of PASSWORD at cost 4, made once with
# Python 3.11's crypt: crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)).
PASSWORD = "s3cret-Prom"
WEB_CONFIG = "basic_auth_users:\n  monitor: $2b$04$nLmcDiN.k.nTd4jMERQe5eIRwZj9KG1Jp/AS9D/fg3FHJje5m/p82\n"


def test_prometheus_behind_basic_auth_is_read_with_the_urls_userinfo_and_the_password_never_shown(
    blocks: Blocks, tmp_path: Path
) -> None:
    backfill = blocks.backfill
    window = ["--since", _iso(backfill.start), "--until", _iso(backfill.start + 60 * (MINUTES - 1))]
    with _serve(blocks, "guarded", WEB_CONFIG) as url:
        guarded = url.replace("http://", f"http://monitor:{PASSWORD}@")
        out = tmp_path / "report.md"
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "report", "--prometheus", guarded, "-o", str(out), *window],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        text = out.read_text(encoding="utf-8")
        assert f"# Gemini Live API — {ALIAS}: failure rate" in text
        assert PASSWORD not in text + result.stdout + result.stderr
        assert "Prometheus http://REDACTED@127.0.0.1:" in text
        for wrong in (url, url.replace("http://", "http://monitor:wrong-Pass@")):
            refused = subprocess.run(
                [sys.executable, "-m", "monitor", "timeline", "--prometheus", wrong, *window],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert refused.returncode == 2
            assert "query refused with HTTP 401" in refused.stderr
            assert "wrong-Pass" not in refused.stderr
