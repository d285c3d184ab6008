"""The daemon's web app: `/metrics`, `/healthz`, the status page `/` and the records API `/api/results`.

One aiohttp Application, built by `build_app` from the registry, the store and a health check; it owns no
state of its own. Store reads run in a worker thread so a status-page render never stalls the event loop
(and with it the probes' timing marks). `docs/web.md` documents the endpoints and their parameters.

Any query gets an answer below 500: a parameter that is not text (a lone surrogate from `%ED%A0%80`), a time
outside what a datetime holds, a look-back longer than the calendar, are each a 400 naming the parameter; a
store that cannot be read is a 503 saying why. The status page's HTML loses every control character
(`monitor.text.printable`) after escaping, so a server's ESC bytes never reach a browser or a `curl`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from multidict import MultiMapping
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.daemon.exposition import TEXT_CONTENT_TYPE, Exposition
from monitor.daemon.health import HealthCheck
from monitor.daemon.metrics import ModelInfo
from monitor.daemon.regime import RegimeTracker
from monitor.probe.outcome import Outcome, ProbeKind
from monitor.probe.record import parse_utc
from monitor.store.records import Store, StoreError
from monitor.text import printable
from monitor.web.status_page import collect_status, render_status_page

__all__ = ["API_MAX_LIMIT", "build_app"]

API_DEFAULT_LIMIT: Final = 1000
API_MAX_LIMIT: Final = 10000
_API_PARAMETERS: Final = ("model", "probe", "since", "until", "outcome", "limit")
_MAX_PARAMETER_CHARS: Final = 1000
# A datetime holds years 1-9999; a look-back past the calendar's start means "everything".
_EARLIEST: Final = datetime(1, 1, 2, tzinfo=UTC)
_RELATIVE: Final = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _BadParameterError(Exception):
    """A query parameter broke a rule; the message names the parameter."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _ResultsQuery:
    model: str | None = None
    probe: ProbeKind | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcomes: tuple[Outcome, ...] | None = None
    limit: int = API_DEFAULT_LIMIT


def build_app(
    *,
    registry: CollectorRegistry,
    store: Store,
    health: HealthCheck,
    clock: Clock = SYSTEM_CLOCK,
    models: Sequence[ModelInfo] = (),
    exposition: Exposition | None = None,
    regimes: RegimeTracker | None = None,
) -> web.Application:
    """The web app. `models` (optional) marks aliases and pinned versions on the status page.

    `exposition` (the daemon's `ProbeMetrics.exposition`) serves `/metrics` from cached bytes; without it
    every scrape encodes the registry (in a worker thread).
    """

    async def healthz(request: web.Request) -> web.Response:
        status = health.check()
        body = json.dumps({"healthy": status.healthy, "detail": status.detail}, default=str)
        return web.json_response(text=body, status=200 if status.healthy else 503)

    async def results(request: web.Request) -> web.Response:
        try:
            query = _parse_results_query(request.query, clock.now())
        except _BadParameterError as exc:
            return web.json_response({"error": str(exc)}, status=400)

        def read() -> tuple[str, bool]:
            # One more than asked says whether the answer was cut; newest first so the limit keeps the latest.
            texts = store.query_json(
                model=query.model,
                probe=query.probe,
                since=query.since,
                until=query.until,
                outcomes=query.outcomes,
                limit=query.limit + 1,
                newest_first=True,
            )
            # The stored text is the record's JSON: join it as is, oldest first, off the event loop.
            return "[" + ",".join(reversed(texts[: query.limit])) + "]", len(texts) > query.limit

        try:
            body, truncated = await asyncio.to_thread(read)
        except (sqlite3.Error, StoreError) as error:
            return _store_unavailable(error)
        headers = {"X-Results-Truncated": "true" if truncated else "false"}
        return web.json_response(text=body, headers=headers)

    async def status_page(request: web.Request) -> web.Response:
        now = clock.now()
        open_run_id = request.query.get("open") or None
        if open_run_id is not None and _not_text(open_run_id):
            return web.json_response(
                {"error": "open: must be a run_id (text of at most 1000 characters)"}, status=400
            )

        def render() -> str:
            jobs = collect_status(store, now, regimes)
            selected = store.get(open_run_id) if open_run_id else None
            return render_status_page(
                jobs, now=now, selected=selected, open_run_id=open_run_id, models=models
            )

        try:
            html = await asyncio.to_thread(render)
        except (sqlite3.Error, StoreError) as error:
            return _store_unavailable(error)
        return web.Response(text=printable(html), content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(registry, exposition))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/results", results)
    app.router.add_get("/", status_page)
    return app


def _metrics_handler(registry: CollectorRegistry, exposition: Exposition | None) -> Handler:
    """`/metrics`: the cached text exposition when the scraper accepts text, else prometheus-client's.

    Prometheus always accepts text 0.0.4, so its scrapes get the cached bytes (gzip when asked), shared by
    concurrent scrapes and rebuilt at most once per recorded turn (`monitor/daemon/exposition.py`).
    OpenMetrics-only clients and `name[]` filters take prometheus-client's encoders (same negotiation as
    `prometheus_client.aiohttp`), run in a worker thread: `make_aiohttp_handler` encodes on the loop, and
    with 100 jobs that froze the loop that times the probes for 0.4-0.6 s a scrape.
    """

    async def metrics(request: web.Request) -> web.StreamResponse:
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        accept_encoding = ",".join(request.headers.getall(hdrs.ACCEPT_ENCODING, []))
        names = request.query.getall("name[]", [])
        if exposition is not None and not names and _accepts_text(accept):
            cached = await exposition.body()
            if gzip_accepted(accept_encoding):
                return web.Response(
                    body=cached.gzipped,
                    headers={"Content-Type": TEXT_CONTENT_TYPE, "Content-Encoding": "gzip"},
                )
            # Uncompressed (curl, a browser): written chunk by chunk, never copied into one 10 MB buffer.
            response = web.StreamResponse(headers={"Content-Type": TEXT_CONTENT_TYPE})
            response.content_length = cached.size
            await response.prepare(request)
            for chunk in cached.chunks:
                await response.write(chunk)
            await response.write_eof()
            return response

        def encode() -> tuple[bytes, dict[str, str]]:
            encoder, content_type = choose_encoder(accept)
            source = registry.restricted_registry(names) if names else registry
            body = encoder(source)
            headers = {"Content-Type": content_type}
            if gzip_accepted(accept_encoding):
                body = gzip.compress(body, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
            return body, headers

        body, headers = await asyncio.to_thread(encode)
        return web.Response(body=body, headers=headers)

    return metrics


def _accepts_text(accept: str) -> bool:
    """Whether the `Accept` header allows the text format (absent, `text/plain`, `text/*` or `*/*`)."""
    if not accept.strip():
        return True
    for item in accept.split(","):
        media, _, params = item.partition(";")
        refused = {"q=0", "q=0.0", "q=0.00", "q=0.000"} & set(params.replace(" ", "").split(";"))
        if media.strip() in ("text/plain", "text/*", "*/*") and not refused:
            return True
    return False


def _store_unavailable(error: sqlite3.Error | StoreError) -> web.Response:
    """A store that cannot be read (corrupted, locked past its timeout) is the server's trouble: 503, why."""
    # sqlite3's message may quote a damaged row: the first line, cut short, says enough.
    cause = printable(str(error.__cause__ or error), newlines=False)[:200]
    return web.json_response({"error": f"store unavailable: {cause}"}, status=503)


def _not_text(value: str) -> bool:
    """True for what no parameter can be: over-long, or not encodable (a lone surrogate) as UTF-8."""
    if len(value) > _MAX_PARAMETER_CHARS:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parse_results_query(params: MultiMapping[str], now: datetime) -> _ResultsQuery:
    """The `/api/results` parameters, checked; _BadParameterError names the parameter and the rule."""
    for key, value in params.items():
        if _not_text(key) or not key.isprintable():
            shown = printable(key, newlines=False)[:60]
            raise _BadParameterError(f"{shown!r}: unknown parameter; allowed: {', '.join(_API_PARAMETERS)}")
        if _not_text(value):
            raise _BadParameterError(
                f"{key}: must be UTF-8 text of at most {_MAX_PARAMETER_CHARS} characters"
            )
    unknown = sorted(set(params) - set(_API_PARAMETERS))
    if unknown:
        raise _BadParameterError(f"{unknown[0]}: unknown parameter; allowed: {', '.join(_API_PARAMETERS)}")
    repeated = sorted(key for key in set(params) if key != "outcome" and len(params.getall(key)) > 1)
    if repeated:
        raise _BadParameterError(f"{repeated[0]}: given more than once")
    since = _moment("since", params["since"], now) if "since" in params else None
    until = _moment("until", params["until"], now) if "until" in params else None
    if since is not None and until is not None and since >= until:
        raise _BadParameterError("since: must be earlier than until")
    outcomes = None
    if "outcome" in params:
        values = [value for item in params.getall("outcome") for value in item.split(",") if value]
        outcomes = tuple(_enum(Outcome, "outcome", value) for value in values)
    return _ResultsQuery(
        model=params.get("model"),
        probe=_enum(ProbeKind, "probe", params["probe"]) if "probe" in params else None,
        since=since,
        until=until,
        outcomes=outcomes,
        limit=_limit(params["limit"]) if "limit" in params else API_DEFAULT_LIMIT,
    )


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise _BadParameterError(f"limit: must be an integer, got {value!r}") from None
    if not 1 <= limit <= API_MAX_LIMIT:
        raise _BadParameterError(f"limit: must be between 1 and {API_MAX_LIMIT}, got {limit}")
    return limit


_E = TypeVar("_E", ProbeKind, Outcome)


def _enum(kind: type[_E], name: str, value: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _BadParameterError(f"{name}: {value!r} is not one of {allowed}") from None


def _moment(name: str, value: str, now: datetime) -> datetime:
    """An ISO 8601 time with a zone (`2026-05-27T17:00:00Z`), or a look-back: `90s`, `15m`, `24h`, `7d`."""
    relative = _RELATIVE.fullmatch(value)
    if relative:
        seconds = float(relative[1]) * _UNITS[relative[2]]
        if seconds >= (now - _EARLIEST).total_seconds():
            return _EARLIEST
        return now - timedelta(seconds=seconds)
    try:
        return parse_utc(value)
    except OverflowError:
        raise _BadParameterError(
            f"{name}: {value!r} is outside the times this API can represent (years 1 to 9999, UTC)"
        ) from None
    except ValueError:
        raise _BadParameterError(
            f"{name}: {value!r} is neither an ISO 8601 time with a zone (2026-05-27T17:00:00Z) "
            "nor a look-back such as 15m, 24h or 7d"
        ) from None
