"""Probe history from a JSONL file of records (`probe --json` output or an export), read at scale.

The timeline needs five fields of a record (model, probe, started_at, outcome, code); a record is ~700
bytes of timings and wire pattern. `read_jsonl` decodes only those fields (plus the few it checks), with
msgspec, a block of lines at a time, into per-series columns: about 1.5 us a record instead of ~30 us for
`json.loads` and a `ProbeResult`. A block that msgspec cannot read as records is re-read line by line the
slow way (`json.loads` + `ProbeResult.from_record`), so every malformed line gets the same error, naming the
line, as before. The report's full records are parsed on demand, only in the windows it shows
(`JsonlRecords.between`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec

from monitor.analysis.timeline import Series, series_from_records, series_from_turns
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.probe.record import ProbeResult

__all__ = ["JsonlError", "JsonlHistory", "JsonlRecords", "read_jsonl"]

# Lines are decoded a block at a time: big enough that msgspec's per-call cost vanishes, small enough that a
# block's decoded structs stay a few MB.
_BLOCK_BYTES: Final = 4 * 1024 * 1024
_PROBES: Final = frozenset(kind.value for kind in ProbeKind)
_OUTCOMES: Final = frozenset(outcome.value for outcome in Outcome)
_CAUSES: Final = frozenset(cause.value for cause in Cause)
_PHASES: Final = frozenset(phase.value for phase in Phase)


class JsonlError(Exception):
    """The file cannot be used; the message is the one line the user sees."""


class _Turn(msgspec.Struct, gc=False):
    """The fields of a record the timeline reads, and those whose validity it checks; the rest is skipped."""

    run_id: str
    started_at: datetime
    model: str
    probe: str
    outcome: str
    code: int | None = None
    cause: str = "none"
    phase: str | None = ""
    endpoint: str = ""
    vantage: str = ""


_DECODER: Final = msgspec.json.Decoder(_Turn)


@dataclass(slots=True)
class _Columns:
    """One (model, probe) series' turns in file order: epoch milliseconds, outcome, code."""

    turns: list[tuple[int, str, int | None]] = field(default_factory=list)
    exact_ms: bool = True  # False if a started_at has sub-millisecond digits (then parsed the exact way)


@dataclass(frozen=True, slots=True)
class JsonlHistory:
    series: list[Series]
    records: JsonlRecords


def read_jsonl(
    path: str, *, model: str | None, since: datetime | None, until: datetime | None
) -> JsonlHistory:
    """The per-probe series of a JSONL file with since <= started_at < until (and `model` if given)."""
    columns: dict[tuple[str, str], _Columns] = defaultdict(_Columns)
    endpoints: set[str] = set()
    vantages: set[str] = set()
    models: set[str] = set()
    for turn in _turns(path):
        moment = turn.started_at
        if (since is not None and moment < since) or (until is not None and moment >= until):
            continue
        models.add(turn.model)
        if model is not None and turn.model != model:
            continue
        series = columns[(turn.model, turn.probe)]
        if moment.microsecond % 1000:
            series.exact_ms = False
        series.turns.append((round(moment.timestamp() * 1000), turn.outcome, turn.code))
        if turn.endpoint:
            endpoints.add(turn.endpoint)
        if turn.vantage:
            vantages.add(turn.vantage)
    if not models:
        raise JsonlError(f"--jsonl {path}: no probe records{_window(since, until)}")
    if model is not None and not columns:
        raise JsonlError(f"--model: unknown model {model!r}; the input has {', '.join(sorted(models))}")
    records = JsonlRecords(path, model, since, until, (sorted(endpoints), sorted(vantages)))
    result = []
    for (job_model, probe), series in sorted(columns.items()):
        if series.exact_ms:
            # A stable sort by time keeps file order among equal times, as series_from_records does.
            series.turns.sort(key=lambda turn: turn[0])
            result.append(series_from_turns(job_model, probe, series.turns))
        else:
            chosen = [
                r for r in records.between(None, None) if (r.model, r.probe.value) == (job_model, probe)
            ]
            result.extend(series_from_records(chosen))
    return JsonlHistory(result, records)


class JsonlRecords:
    """The file's full records over the window, parsed only when asked for: the report's `RecordSource`."""

    def __init__(
        self,
        path: str,
        model: str | None,
        since: datetime | None,
        until: datetime | None,
        origins: tuple[list[str], list[str]],
    ) -> None:
        self._path, self._model, self._since, self._until = path, model, since, until
        self._origins = origins

    def between(self, start: datetime | None, end: datetime | None) -> list[ProbeResult]:
        """Records with start < started_at <= end (None: unbounded) inside the window, in time order."""
        after = start or datetime.min.replace(tzinfo=UTC)
        upto = end or datetime.max.replace(tzinfo=UTC)
        chosen = []
        for number, line in _lines(self._path):
            try:
                turn = _DECODER.decode(line)
            except msgspec.DecodeError:
                turn = _turn_of(_slow_record(self._path, number, line))
            moment = turn.started_at
            if not after < moment <= upto:
                continue
            if (self._since is not None and moment < self._since) or (
                self._until is not None and moment >= self._until
            ):
                continue
            if self._model is None or turn.model == self._model:
                chosen.append(_slow_record(self._path, number, line))
        chosen.sort(key=lambda r: r.started_at)
        return chosen

    def origins(self) -> tuple[list[str], list[str]]:
        """The endpoints and vantages of the window's records, sorted."""
        return self._origins


def _turns(path: str) -> Iterator[_Turn]:
    """Every record's timeline fields, checked; JsonlError naming the line for the first bad one."""
    line_number = 0
    for block in _blocks(path):
        try:
            turns = _DECODER.decode_lines(block)
        except (msgspec.DecodeError, RecursionError):  # the exact path below names the line
            turns = None
        if turns is not None and all(_valid(turn) for turn in turns):
            line_number += block.count(b"\n")
            yield from turns
            continue
        # Something in this block is not a plain record: read it line by line the exact way, which either
        # accepts the line (a form msgspec is stricter about) or raises the error the user sees.
        for line in block.split(b"\n"):
            line_number += 1
            if line.strip():
                yield _turn_of(_slow_record(path, line_number, line))
        line_number -= 1  # the block ends with a newline: split() gave one empty piece after it


def _valid(turn: _Turn) -> bool:
    return (
        turn.started_at.tzinfo is not None
        and turn.probe in _PROBES
        and turn.outcome in _OUTCOMES
        and turn.cause in _CAUSES
        and (turn.phase or "") in _PHASES
    )


def _turn_of(record: ProbeResult) -> _Turn:
    return _Turn(
        run_id=record.run_id,
        started_at=record.started_at,
        model=record.model,
        probe=record.probe.value,
        outcome=record.outcome.value,
        code=record.code,
        endpoint=record.endpoint,
        vantage=record.vantage,
    )


def _blocks(path: str) -> Iterator[bytes]:
    """The file in blocks of whole lines, each ending with a newline; UTF-8 checked."""
    try:
        with Path(path).open("rb") as handle:
            rest = b""
            lines = 0  # lines before the block, to name the one that is not UTF-8
            while chunk := handle.read(_BLOCK_BYTES):
                chunk = rest + chunk
                cut = chunk.rfind(b"\n") + 1
                rest = chunk[cut:]
                if cut:
                    yield _utf8(path, chunk[:cut], lines)
                    lines += chunk.count(b"\n", 0, cut)
            if rest:
                yield _utf8(path, rest + b"\n", lines)
    except OSError as error:
        raise JsonlError(f"--jsonl {path}: cannot read: {error.strerror}") from None


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    number = 0
    for block in _blocks(path):
        for line in block.split(b"\n")[:-1]:
            number += 1
            if line.strip():
                yield number, line


def _utf8(path: str, block: bytes, lines_before: int) -> bytes:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as error:
        line = lines_before + block.count(b"\n", 0, error.start) + 1
        raise JsonlError(f"{path} line {line}: not UTF-8 text ({error.reason})") from None
    return block


def _slow_record(path: str, number: int, line: bytes) -> ProbeResult:
    """One line parsed the exact way (json + ProbeResult.from_record); JsonlError names what is wrong."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise JsonlError(f"{path} line {number}: not JSON ({error.msg}, column {error.colno})") from None
    except RecursionError:
        raise JsonlError(f"{path} line {number}: not a record (JSON nested too deeply)") from None
    if not isinstance(value, dict):
        raise JsonlError(f"{path} line {number}: a record must be a JSON object, got {type(value).__name__}")
    try:
        return ProbeResult.from_record(value)
    except KeyError as error:
        raise JsonlError(f"{path} line {number}: record has no field {error.args[0]!r}") from None
    except (ValueError, TypeError) as error:
        raise JsonlError(f"{path} line {number}: invalid record: {error}") from None


def _window(since: datetime | None, until: datetime | None) -> str:
    if since is None and until is None:
        return ""
    return (
        f" between {since.isoformat() if since else 'the start'} and {until.isoformat() if until else 'now'}"
    )
