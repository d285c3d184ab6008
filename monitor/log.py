"""The daemon's logs: structlog rendering one JSON object per line, and the one line per probe run.

Log values are the record's vocabulary (outcome, cause, phase are label values), so `jq` filters on logs,
PromQL on metrics and SQL on the store all use the same words. Secrets never reach a log line: probe results
carry none, and settings keep keys in SecretStr. Close reasons, details and message kinds are the server's
text: every string value loses its control characters (`monitor.text.printable`) before it is rendered, so
`jq -r` on a log never replays a server's terminal escape sequence.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import structlog

from monitor.probe.outcome import TimingPhase
from monitor.probe.record import ProbeResult
from monitor.text import printable

__all__ = ["configure_logging", "get_logger", "log_result", "strip_controls"]


def configure_logging(*, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """JSON lines on `stream` (default stderr) for structlog and the stdlib (aiohttp, APScheduler) alike."""
    out = _Unfailing(stream or sys.stderr)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks,
            strip_controls,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, out)),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the stdlib; render them as the same JSON lines.
    handler = logging.StreamHandler(cast(TextIO, out))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                strip_controls,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # The scheduler counts overlap skips itself; APScheduler's own warning per skip would be noise.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


class _Unfailing:
    """A log stream whose write errors are dropped: a full disk or a closed pipe under stderr loses log
    lines, never a probe record (a raising log call would abort the record's bookkeeping)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lost = 0

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):  # ValueError: the stream was closed
            self.lost += 1
            return 0

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self.lost += 1


def strip_controls(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A structlog processor: every string in the event, at any depth, without control characters."""
    return {_clean(key): _clean(value) for key, value in event.items()}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


def log_result(logger: structlog.typing.FilteringBoundLogger, result: ProbeResult) -> None:
    """The one line per probe run: what happened, where, and the phase timings (null: not reached)."""
    fields: dict[str, Any] = {
        "run_id": result.run_id,
        "endpoint": result.endpoint,
        "model": result.model,
        "probe": result.probe.value,
        "outcome": result.outcome.value,
        "cause": result.cause.value,
        "code": result.code,
        "phase": result.phase.value,
        "timings": {p.value: _rounded(result.timings.get(p)) for p in TimingPhase},
    }
    if result.close_reason:
        fields["close_reason"] = result.close_reason
    if result.recovery is not None:
        fields["recovery"] = result.recovery.to_record()
    if result.detail:
        fields["detail"] = result.detail
    if result.ok:
        logger.info("probe", **fields)
    else:
        logger.warning("probe", **fields)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)
