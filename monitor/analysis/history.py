"""Probe history for the timeline and the report: read it from the store, a JSONL file or Prometheus.

Every source problem (missing file, malformed line, empty input, unknown model, unreachable Prometheus) is a
`HistoryError` with one line naming the source and the rule; the CLI prints it and exits 2.

Prometheus gives counts, not records: `gemini_live_probe_turns_total` is read raw with `query_range` at the
step and differenced per label set (a drop is a counter reset: the new value is the increase). This is exact
at the step's resolution, unlike `increase()`, which extrapolates to the window edges and returns fractions
(docs/detection.md, "Onset"). A label set that first appears inside the window started from 0 (the exporter
creates a label set on its first turn); the first sample of one present from the start only sets the baseline.
"""

from __future__ import annotations

import base64
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.analysis.jsonl import JsonlError, JsonlHistory, JsonlRecords, read_jsonl
from monitor.analysis.prior import DEFAULT_BASELINE, Prior, history_prior
from monitor.analysis.timeline import Series, failure_class, series_from_turns
from monitor.probe.outcome import Outcome
from monitor.probe.record import ProbeResult, parse_utc
from monitor.text import printable, redact_url

if TYPE_CHECKING:
    from monitor.store.records import Store

__all__ = [
    "History",
    "HistoryError",
    "StoredRecords",
    "gather",
    "load_jsonl",
    "load_prometheus",
    "load_store",
    "load_store_priors",
    "load_store_series",
    "parse_moment",
    "select_model",
]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Prometheus refuses a range query of more than 11,000 points per series.
_MAX_POINTS = 11_000
# How far before --since the timeline looks for a series' earlier regime (its prior), and at most how many
# of those turns it segments: a day at 2 turns a minute, a bounded cost for any store.
PRIOR_LOOKBACK = timedelta(days=1)
PRIOR_TURNS = 3000
# Prometheus steps before --since read for the prior: six hours at the window's step (one more query).
PROMETHEUS_LOOKBACK = timedelta(hours=6)


class HistoryError(Exception):
    """The history source cannot be used; the message is the one line the user sees."""


def parse_moment(text: str, field: str, now: datetime) -> datetime:
    """`--since/--until`: ISO 8601 with a zone (or Z), or a duration before now such as `90m`, `6h`, `2d`."""
    match = _RELATIVE.match(text.strip())
    if match:
        try:
            return now - timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
        except OverflowError:  # `99999999d`: before the first representable time
            raise HistoryError(f"{field}: {text!r} reaches before the year 1") from None
    try:
        return parse_utc(text)
    except ValueError:
        raise HistoryError(
            f"{field}: {text!r} is neither an ISO 8601 time with a zone (2026-05-27T17:00:00Z) "
            "nor a duration such as 6h"
        ) from None


def load_jsonl(path: str, since: datetime | None, until: datetime | None) -> list[ProbeResult]:
    """Every record of a JSONL file with since <= started_at < until, fully parsed, in time order."""
    return read_jsonl_history(path, None, since, until).records.between(None, None)


def read_jsonl_history(
    path: str, model: str | None, since: datetime | None, until: datetime | None
) -> JsonlHistory:
    """The per-probe series of a JSONL file (only the fields the timeline reads are decoded)."""
    try:
        return read_jsonl(path, model=model, since=since, until=until)
    except JsonlError as error:
        raise HistoryError(str(error)) from None


def _open_store(path: str, model: str | None) -> Store:
    """The store at `path` (never created here), checked to hold records and, if named, `model`."""
    from monitor.store.records import Store, StoreError  # noqa: PLC0415 - sqlite machinery only for --db

    try:
        store = Store(path, read_only=True)  # never written: not migrated, its journal mode untouched
    except StoreError as error:
        raise HistoryError(f"--db {error}") from None
    try:
        known = store.models()
        if not known:
            raise HistoryError(f"--db {path}: the store is empty (no probe records yet)")
        if model is not None and model not in known:
            raise HistoryError(f"--model: unknown model {model!r}; the store has {', '.join(known)}")
    except BaseException:
        store.close()
        raise
    return store


def load_store(
    path: str, model: str | None, since: datetime | None, until: datetime | None
) -> list[ProbeResult]:
    """Records of the daemon's SQLite store, every one parsed (the slow path; the timeline reads columns)."""
    from monitor.store.records import StoreError  # noqa: PLC0415 - sqlite machinery only for --db

    store = _open_store(path, model)
    try:
        records = store.query(model=model, since=since, until=until)
    except StoreError as error:
        raise HistoryError(f"--db {error}") from None
    finally:
        store.close()
    if not records:
        raise HistoryError(f"--db {path}: no probe records{_window(since, until)}")
    return records


# Start times a record can have (years 1 to 9999, in epoch milliseconds): past them no datetime exists.
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999


def _in_range(path: str, turns: list[tuple[int, str, int | None]]) -> list[tuple[int, str, int | None]]:
    """`turns` (sorted by start), refused when a start time is outside any calendar: not our record."""
    for ms in (turns[0][0], turns[-1][0]) if turns else ():
        if not _FIRST_MS <= ms <= _LAST_MS:
            raise HistoryError(f"--db {path}: a record starts at {ms} ms since 1970, a time no calendar has")
    return turns


def load_store_series(
    path: str, model: str | None, since: datetime | None, until: datetime | None
) -> list[Series]:
    """The per-probe series of the store, read from its indexed columns: no record JSON is parsed.

    Gives exactly `series_from_records(load_store(...))` (tests/integration/timeline/test_store_series.py).
    """
    store = _open_store(path, model)
    try:
        series = []
        for job_model, probe in sorted(store.jobs(), key=lambda job: (job[0], job[1].value)):
            if model is not None and job_model != model:
                continue
            turns = store.turn_columns(model=job_model, probe=probe, since=since, until=until)
            if turns:
                series.append(series_from_turns(job_model, probe.value, _in_range(path, turns)))
    finally:
        store.close()
    if not series:
        raise HistoryError(f"--db {path}: no probe records{_window(since, until)}")
    return series


def _default_rate(_model: str) -> float:
    return DEFAULT_BASELINE


def load_store_priors(
    path: str, series: Sequence[Series], since: datetime, expected: Callable[[str], float] = _default_rate
) -> dict[tuple[str, str], Prior]:
    """Each series' prior from its own turns in the day before `since` (see `history_prior`), judged against
    the rate `expected(model)` says that model fails at."""
    from monitor.probe.outcome import ProbeKind  # noqa: PLC0415

    store = _open_store(path, None)
    priors: dict[tuple[str, str], Prior] = {}
    try:
        for s in series:
            turns = store.turn_columns(
                model=s.model, probe=ProbeKind(s.probe), since=since - PRIOR_LOOKBACK, until=since
            )
            prior = history_prior(
                series_from_turns(s.model, s.probe, _in_range(path, turns[-PRIOR_TURNS:])), expected(s.model)
            )
            if prior is not None:
                priors[(s.model, s.probe)] = prior
    finally:
        store.close()
    return priors


def _jsonl_priors(
    path: str, model: str | None, since: datetime, expected: Callable[[str], float]
) -> dict[tuple[str, str], Prior]:
    """Each series' prior from the file's turns in the day before `since` (none when the file has none)."""
    try:
        earlier = read_jsonl_history(path, model, since - PRIOR_LOOKBACK, since).series
    except HistoryError:
        return {}
    priors = {}
    for s in earlier:
        prior = history_prior(
            Series(
                s.model, s.probe, s.times[-PRIOR_TURNS:], s.trials[-PRIOR_TURNS:], s.failures[-PRIOR_TURNS:]
            ),
            expected(s.model),
        )
        if prior is not None:
            priors[(s.model, s.probe)] = prior
    return priors


def _prometheus_priors(
    url: str, model: str | None, since: datetime, step: float, expected: Callable[[str], float]
) -> dict[tuple[str, str], Prior]:
    """Each series' prior from the counters in the PROMETHEUS_LOOKBACK before `since`; none without data."""
    try:
        earlier = load_prometheus(url, model=model, since=since - PROMETHEUS_LOOKBACK, until=since, step=step)
    except HistoryError:
        return {}
    priors = {}
    for s in earlier:
        prior = history_prior(s, expected(s.model))
        if prior is not None:
            priors[(s.model, s.probe)] = prior
    return priors


class StoredRecords:
    """The store's records over the window, parsed only when asked for: the report's `RecordSource`."""

    def __init__(self, path: str, model: str | None, since: datetime | None, until: datetime | None) -> None:
        self.path, self.model, self.since, self.until = path, model, since, until

    def between(self, start: datetime | None, end: datetime | None) -> list[ProbeResult]:
        """Records with start < started_at <= end (None: unbounded) inside the window, in time order."""
        since, until = self.since, self.until
        # The store's window is since <= t < until; widen by a second and cut exactly below.
        if start is not None:
            since = max(since, start - timedelta(seconds=1)) if since else start - timedelta(seconds=1)
        if end is not None:
            until = min(until, end + timedelta(seconds=1)) if until else end + timedelta(seconds=1)
        from monitor.store.records import StoreError  # noqa: PLC0415 - sqlite machinery only for --db

        store = _open_store(self.path, self.model)
        try:
            records = store.query(model=self.model, since=since, until=until)
        except StoreError as error:
            raise HistoryError(f"--db {error}") from None
        finally:
            store.close()
        after = start or datetime.min.replace(tzinfo=UTC)
        upto = end or datetime.max.replace(tzinfo=UTC)
        return [r for r in records if after < r.started_at <= upto]

    def origins(self) -> tuple[list[str], list[str]]:
        """The endpoints and vantages of the window's records, sorted."""
        store = _open_store(self.path, self.model)
        try:
            return store.origins(model=self.model, since=self.since, until=self.until)
        finally:
            store.close()


def select_model(records: list[ProbeResult], model: str | None) -> list[ProbeResult]:
    """Only `model`'s records; HistoryError naming the known models when there are none."""
    if model is None:
        return records
    chosen = [r for r in records if r.model == model]
    if not chosen:
        known = ", ".join(sorted({r.model for r in records}))
        raise HistoryError(f"--model: unknown model {model!r}; the input has {known}")
    return chosen


def _window(since: datetime | None, until: datetime | None) -> str:
    if since is None and until is None:
        return ""
    return (
        f" between {since.isoformat() if since else 'the start'} and {until.isoformat() if until else 'now'}"
    )


def load_prometheus(
    url: str,
    *,
    model: str | None,
    since: datetime,
    until: datetime,
    step: float | None = None,
    timeout: float = 10.0,
) -> list[Series]:
    """Per-step turn counts per (model, probe) from `gemini_live_probe_turns_total`, summed over instances."""
    span = (until - since).total_seconds()
    if span <= 0:
        raise HistoryError("--since must be before --until")
    if step is None:
        step = max(60.0, math.ceil(span / (_MAX_POINTS - 1)))
    elif span / step >= _MAX_POINTS:
        raise HistoryError(
            f"--step: {step:g}s gives more than {_MAX_POINTS} points over the window; use a larger step"
        )
    selector = (
        f'gemini_live_probe_turns_total{{model="{model}"}}' if model else "gemini_live_probe_turns_total"
    )
    query = urllib.parse.urlencode(
        # The last step ends at or after `until`: turns after the last whole step are counted too, so the
        # counts agree with the store's over the same window (up to the turns not yet scraped).
        {
            "query": selector,
            "start": since.timestamp(),
            "end": since.timestamp() + math.ceil(span / step) * step,
            "step": step,
        }
    )
    base, headers = _prometheus_request(url)
    url = redact_url(url)  # every message below names the server, never its password
    endpoint = f"{base.rstrip('/')}/api/v1/query_range?{query}"
    if not endpoint.startswith(("http://", "https://")):
        raise HistoryError(f"--prometheus: {url!r} is not an http(s) URL")
    request = urllib.request.Request(endpoint, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise HistoryError(
            f"--prometheus {url}: query refused with HTTP {error.code}: {_error_text(error)}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise HistoryError(f"--prometheus {url}: cannot reach Prometheus ({reason})") from None
    except json.JSONDecodeError:
        raise HistoryError(
            f"--prometheus {url}: the answer is not JSON (is this a Prometheus server?)"
        ) from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or body.get("status") != "success" or data.get("resultType") != "matrix":
        answer = printable(str(body)[:200], newlines=False)
        raise HistoryError(f"--prometheus {url}: unexpected answer: {answer}")
    series = _series_from_matrix(body["data"]["result"], since.timestamp(), step)
    if not series:
        if model is not None:
            raise HistoryError(
                f"--model: unknown model {model!r}; Prometheus has no turns for it{_window(since, until)}"
            )
        raise HistoryError(
            f"--prometheus {url}: no gemini_live_probe_turns_total samples{_window(since, until)}"
        )
    return series


def _prometheus_request(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its userinfo, and the Basic authorization header that userinfo stands for (a
    Prometheus behind a reverse proxy with basic auth: `https://user:password@host`); urllib would take
    the userinfo as part of the host name."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url, {}
    if "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        text = str(json.loads(error.read()).get("error", ""))
    except (ValueError, OSError, AttributeError):
        text = str(error.reason)
    return printable(text[:200], newlines=False)


def _series_from_matrix(result: Sequence[dict[str, Any]], start: float, step: float) -> list[Series]:
    # (model, probe) -> class -> step index -> turns
    counts: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    excluded: dict[tuple[str, str], float] = defaultdict(float)
    for item in result:
        labels = item["metric"]
        key = (labels.get("model", ""), labels.get("probe", ""))
        outcome = labels.get("outcome", "")
        code = labels.get("code", "")
        label = (
            "ok" if outcome == Outcome.OK else failure_class(outcome, int(code) if code.isdigit() else None)
        )
        previous: float | None = None
        for timestamp, text in item["values"]:
            value = float(text)
            index = round((float(timestamp) - start) / step)
            if previous is None:
                # Present at the first point: the baseline. Born later: it counted up from 0.
                previous = value if index == 0 else 0.0
                if index == 0:
                    continue
            increase = value if value < previous else value - previous
            previous = value
            if increase <= 0:
                continue
            if outcome == Outcome.PROBER_ERROR:
                excluded[key] += increase
            else:
                slot = counts[key][label]
                slot[index] = slot.get(index, 0.0) + increase
    result_series = []
    for (model, probe), by_class in sorted(counts.items()):
        steps = sorted({i for per_step in by_class.values() for i in per_step})
        classes = tuple(sorted(c for c in by_class if c != "ok"))
        table = np.zeros((len(steps), len(classes)), dtype=np.int64)
        row = {s: i for i, s in enumerate(steps)}
        for column, name in enumerate(classes):
            for s, n in by_class[name].items():
                table[row[s], column] = round(n)
        ok = np.array([round(by_class.get("ok", {}).get(s, 0.0)) for s in steps], dtype=np.int64)
        failures = table.sum(axis=1)
        result_series.append(
            Series(
                model=model,
                probe=probe,
                times=np.array([start + s * step for s in steps], dtype=np.float64),
                trials=ok + failures,
                failures=failures,
                classes=classes,
                class_counts=table,
                resolution=step,
                excluded=round(excluded[(model, probe)]),
            )
        )
    return result_series


@dataclass(frozen=True, slots=True)
class History:
    """What one history source gave: the series, the records (None from Prometheus) and a one-line source.

    From the store the series come from indexed columns and the records stay on disk until the report asks.
    """

    series: list[Series]
    records: list[ProbeResult] | StoredRecords | JsonlRecords | None
    source: str
    start: datetime | None = None  # the window asked for (None: unbounded)
    end: datetime | None = None
    # Priors from the series' own turns before the window (store and JSONL with --since only).
    priors: dict[tuple[str, str], Prior] = field(default_factory=dict)


def gather(
    *,
    db: str | None,
    jsonl: str | None,
    prometheus: str | None,
    model: str | None,
    since: str | None,
    until: str | None,
    step: float | None,
    now: datetime,
    baseline: float = DEFAULT_BASELINE,
    expected: Mapping[str, float] | None = None,
) -> History:
    """Read the one source the command line named (--db, --jsonl or --prometheus) over the window.

    A series' turns before the window are judged against `expected[model]` (the config's
    `expected_failure_rate`), else `baseline`: a model configured at 10% is not "already failing" at 10%."""
    rates = dict(expected or {})

    def rate_of(model: str) -> float:
        return rates.get(model, baseline)

    start = parse_moment(since, "--since", now) if since else None
    end = parse_moment(until, "--until", now) if until else None
    if start and end and start >= end:
        raise HistoryError(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")
    if prometheus:
        start = start or (end or now) - timedelta(hours=24)
        end = end or now
        series = load_prometheus(prometheus, model=model, since=start, until=end, step=step)
        priors = _prometheus_priors(prometheus, model, start, series[0].resolution or 60.0, rate_of)
        return History(
            series,
            None,
            f"Prometheus {redact_url(prometheus)} (resolution: {series[0].resolution:g} s steps; the first "
            "step only sets the counters' baseline, so its turns are not counted)",
            start,
            end,
            priors,
        )
    if jsonl:
        read = read_jsonl_history(jsonl, model, start, end)
        priors = _jsonl_priors(jsonl, model, start, rate_of) if start else {}
        return History(read.series, read.records, f"JSONL file {jsonl} (per probe)", start, end, priors)
    if db:
        series = load_store_series(db, model, start, end)
        priors = load_store_priors(db, series, start, rate_of) if start else {}
        return History(
            series, StoredRecords(db, model, start, end), f"store {db} (per probe)", start, end, priors
        )
    raise HistoryError("no history source: give --db PATH, --jsonl FILE or --prometheus URL")
