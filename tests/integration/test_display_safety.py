"""Server-chosen text in the incident report and the text helpers: nothing a server sends rewrites a page.

The report is written by the real CLI (`live-monitor report --db`) from a real SQLite store whose failures
carry a hostile message kind: Markdown, HTML, a backtick, newlines and ANSI escapes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.probe.outcome import Outcome
from monitor.store.records import Store
from monitor.text import credential_parameters, markdown_code, markdown_inline, printable, redact_url
from tests.history import simulate_history

REPO = Path(__file__).resolve().parents[2]
HOSTILE_KIND = "x`\n# Pwned heading\n<img src=x onerror=alert(1)>\x1b[2J[link](http://evil)"


def test_hostile_message_kinds_stay_inside_one_code_span_of_the_report(tmp_path: Path) -> None:
    """The report's wire pattern shows a hostile kind as literal text: no heading, tag, link or ESC byte."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    store = Store(tmp_path / "records.db")
    try:
        history = [
            replace(r, messages=((HOSTILE_KIND, 0.05), *r.messages)) if r.outcome is not Outcome.OK else r
            for r in simulate_history(start, 150, onset_minute=60)
        ]
        store.append_many(history)
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--db", str(tmp_path / "records.db"), "--since", "4h"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert "\x1b" not in report
    lines = report.splitlines()
    assert not any(line.startswith("# Pwned") for line in lines)
    wire = [line for line in lines if "Pwned heading" in line]
    assert wire, report
    for line in wire:
        # One code span fenced by two backticks (the kind holds one), everything inside it literal.
        assert line.startswith("- ``x` # Pwned heading <img src=x onerror=alert(1)>[2J[link](http://evil)")
        assert line.count("``") == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("\x1b[31mred\x1b[0m", "[31mred[0m"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("bell\x07 nul\x00 del\x7f c1\x9b", "bell nul del c1"),
        ("bidi\u202eoverride\u2066isolate", "bidioverrideisolate"),
        ("lone\ud800surrogate", "lonesurrogate"),
    ],
)
def test_printable_drops_control_characters_only(text: str, expected: str) -> None:
    """Control characters go; tab, newline and every printable character stay."""
    assert printable(text) == expected


def test_markdown_helpers_make_text_literal() -> None:
    """Inline text has Markdown and HTML escaped; a code span is fenced longer than any backtick run."""
    assert markdown_inline("# h <b>[x](y)\n*z*") == r"\# h &lt;b&gt;\[x\]\(y\) \*z\*"
    assert markdown_code("plain") == "`plain`"
    assert markdown_code("a``b") == "```a``b```"
    assert markdown_code("`edge`") == "`` `edge` ``"
    assert markdown_code("one\ntwo\x1b") == "`one two`"


@pytest.mark.parametrize(
    ("url", "shown", "parameters"),
    [
        ("wss://host/ws/x", "wss://host/ws/x", []),
        ("ws://user:SECRET@host:8765/ws/x", "ws://REDACTED@host:8765/ws/x", []),
        ("wss://host/ws/x?key=SECRET&alt=json", "wss://host/ws/x?key=REDACTED&alt=json", ["key"]),
        ("wss://host/ws/x?access_token=SECRET", "wss://host/ws/x?access_token=REDACTED", ["access_token"]),
        (
            "wss://host/ws/x?X-Goog-Api-Key=SECRET",
            "wss://host/ws/x?X-Goog-Api-Key=REDACTED",
            ["X-Goog-Api-Key"],
        ),
        ("wss://host/ws/x?sessionToken=S", "wss://host/ws/x?sessionToken=REDACTED", ["sessionToken"]),
    ],
)
def test_credentials_in_urls_are_found_and_redacted(url: str, shown: str, parameters: list[str]) -> None:
    """Userinfo and key- or token-like query values never survive redaction; the rest of the URL does."""
    assert redact_url(url) == shown
    assert credential_parameters(url) == parameters
    assert "SECRET" not in redact_url(url)
