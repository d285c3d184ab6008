"""The report's facts beyond the timeline, from the records (endpoints, vantages, wire patterns) and config.

Nothing is guessed: what neither the records nor the given config say stays None and the report says "not
known". Full records are read on demand (`RecordSource`), so a store parses only the regression's window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from monitor.analysis.timeline import CoChange, Series, worst_regression
from monitor.analysis.wire import WireSummary, wire_summary
from monitor.probe.record import ProbeResult
from monitor.text import redact_url

if TYPE_CHECKING:
    from monitor.config.settings import MonitorSettings

__all__ = ["RecordSource", "ReportContext", "build_context"]


@dataclass(frozen=True, slots=True)
class ReportContext:
    """Everything the report needs beyond the timeline; None/empty where the source does not know."""

    source: str  # e.g. "store data/live-monitor.sqlite3" or "Prometheus http://...: 60 s steps"
    vantages: Sequence[str]
    endpoints: Sequence[str]
    setup_payload: Mapping[str, Any] | None  # the exact `{"setup": ...}` message of the reproduced model
    reproduce_model: str  # as `probe --model` takes it: Vertex AI's full resource name, else the id
    reproduce_probe: str
    url: str | None  # from the config (any key= value redacted); None when no config was given
    url_is_default: bool
    auth: str | None
    quota: Mapping[str, int] | None
    wire: WireSummary | None  # None for Prometheus input (counters carry no messages)
    window: tuple[datetime | None, datetime | None] = (None, None)  # --since/--until (None: unbounded)
    made: datetime | None = None  # when the report was made (UTC)
    # `probe` options the config implies beyond --model, --probe and --url: ("--auth", "bearer") and the like
    reproduce_options: tuple[tuple[str, str], ...] = ()


def _redact_url(url: str) -> str:
    """The URL with its userinfo and any credential-like query value replaced: no secret reaches a report."""
    return redact_url(url)


_AUTH_WORDS = {
    "header": "API key in the x-goog-api-key header",
    "query": "API key as the ?key= query parameter",
    "token": "ephemeral auth token (Authorization: Token, BidiGenerateContentConstrained)",
    "bearer": "OAuth access token (Authorization: Bearer)",
}


class RecordSource(Protocol):
    """Full records read on demand, so a store parses only those the report shows (`analysis.history`)."""

    def between(self, start: datetime | None, end: datetime | None) -> Sequence[ProbeResult]:
        """Records with start < started_at <= end (None: unbounded), in time order."""
        ...

    def origins(self) -> tuple[list[str], list[str]]:
        """The distinct non-empty endpoints and vantages of all the records, sorted."""
        ...


@dataclass(frozen=True, slots=True)
class _Loaded:
    records: Sequence[ProbeResult]

    def between(self, start: datetime | None, end: datetime | None) -> Sequence[ProbeResult]:
        if start is None and end is None:
            return self.records
        return [
            r
            for r in self.records
            if (start is None or start < r.started_at) and (end is None or r.started_at <= end)
        ]

    def origins(self) -> tuple[list[str], list[str]]:
        return (
            sorted({r.endpoint for r in self.records if r.endpoint}),
            sorted({r.vantage for r in self.records if r.vantage}),
        )


def build_context(
    *,
    source: str,
    records: Sequence[ProbeResult] | RecordSource | None,
    series: Sequence[Series],
    co_changes: Sequence[CoChange],
    settings: MonitorSettings | None,
    window: tuple[datetime | None, datetime | None] = (None, None),
    made: datetime | None = None,
) -> ReportContext:
    """Facts for the report from the records and, when given, the monitor config; nothing is guessed."""
    from monitor.config.settings import GEMINI_URL  # noqa: PLC0415
    from monitor.live.messages import default_setup_payload, model_resource, setup_message  # noqa: PLC0415

    loaded = _Loaded(records) if isinstance(records, Sequence) else records
    worst = worst_regression(co_changes)
    # The regression's wire pattern: turns in its window, every model (clean ones give successes).
    wire_window: tuple[datetime | None, datetime | None] = (None, None)
    if worst is not None:
        model, probe, _ = max(worst.changed, key=lambda c: c[2].rate_after - c[2].rate_before)
        wire_window = (worst.start, worst.end)
    else:
        model, probe = series[0].model, series[0].probe
    wire_records = loaded.between(*wire_window) if loaded is not None else None
    configured = next((m for m in settings.models if m.id == model), None) if settings else None
    endpoint = settings.endpoint_of(configured) if settings and configured else None
    url = _redact_url(endpoint.url) if endpoint else None
    payload = configured.setup_payload if configured else None
    # Vertex AI names the model by its full resource (the endpoint's project and location), as the probe does.
    named = (endpoint.access.model_prefix if endpoint else "") + model
    setup = setup_message(model_resource(named, url or GEMINI_URL), payload or default_setup_payload(model))
    options: list[tuple[str, str]] = []
    if endpoint is not None and endpoint.auth.value != "header":
        options.append(("--auth", endpoint.auth.value))
    if configured is not None and configured.text_path.value != "client_content":
        options.append(("--text-path", configured.text_path.value))
    endpoints, vantages = loaded.origins() if loaded is not None else ([], [])
    return ReportContext(
        source=source,
        vantages=vantages,
        endpoints=endpoints or ([endpoint.name] if endpoint else []),
        setup_payload=setup,
        reproduce_model=named,
        reproduce_probe=probe,
        url=url,
        url_is_default=url == GEMINI_URL,
        auth=_AUTH_WORDS.get(endpoint.auth.value, endpoint.auth.value) if endpoint else None,
        quota=settings.budgets.model_dump() if settings else None,
        wire=wire_summary(wire_records) if wire_records is not None else None,
        window=window,
        made=made,
        reproduce_options=tuple(options),
    )
