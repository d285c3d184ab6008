"""The log format: one JSON object per line, one line per probe run, in the record's vocabulary."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import structlog

from monitor.log import configure_logging, get_logger, log_result
from tests.history import incident_000_failure, ok_turn


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging(stream=out)
    yield out
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_probe_run_with_the_record_fields(stream: io.StringIO) -> None:
    logger = get_logger("monitor.scheduler")
    failure = incident_000_failure(datetime.now(UTC))
    log_result(logger, ok_turn(datetime.now(UTC), run_id="r-ok"))
    log_result(logger, failure)
    ok, failed = lines(stream)
    assert ok["event"] == "probe"
    assert ok["run_id"] == "r-ok"
    assert ok["outcome"] == "ok"
    assert ok["level"] == "info"
    assert ok["code"] is None
    assert ok["timings"]["first_audio"] == 0.62  # type: ignore[index]
    assert set(ok) >= {"run_id", "model", "probe", "outcome", "cause", "code", "phase", "timings", "ts"}
    assert failed["outcome"] == "server_close"
    assert failed["code"] == 1011
    assert failed["cause"] == "internal"
    assert failed["phase"] == failure.phase.value
    assert failed["level"] == "warning"
    assert failed["close_reason"] == "Internal error encountered."


def test_library_logs_are_the_same_json_lines(stream: io.StringIO) -> None:
    logging.getLogger("aiohttp.server").error("boom %s", 1)
    (line,) = lines(stream)
    assert line["event"] == "boom 1"
    assert line["level"] == "error"
    assert line["logger"] == "aiohttp.server"


def test_server_text_loses_its_control_characters_in_the_log(stream: io.StringIO) -> None:
    """A close reason or message kind carrying ESC sequences, C1 or bidi controls is logged without them."""
    hostile = replace(
        incident_000_failure(datetime.now(UTC)),
        close_reason="\x1b[2J\x1b]0;pwned\x07Internal\u202e error\x9b",
        detail="line one\nline two\x00",
        messages=(("\x1b[31mred", 0.1),),
    )
    log_result(get_logger("monitor.scheduler"), hostile)
    logging.getLogger("aiohttp.server").warning("peer said %s", "\x1b[5mhi")
    raw = stream.getvalue()
    for control in ("\x1b", "\\u001b", "\x07", "\\u0007", "\x9b", "\\u009b", "\u202e", "\\u202e", "\\u0000"):
        assert control not in raw
    probe, library = lines(stream)
    assert probe["close_reason"] == "[2J]0;pwnedInternal error"
    assert probe["detail"] == "line one\nline two"
    assert library["event"] == "peer said [5mhi"
