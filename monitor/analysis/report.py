"""Rendering of the timeline: the regimes table, the incident report (Markdown) and the failure-rate plot.

The report follows incident 000's sections (Summary, Timeline, Reproduction, Results per model, Wire-level
pattern, Environment) and states only what the records, the counters or the given config say. Files are
written to a temporary sibling and renamed, so a failed run never leaves half a report. The plot lives in
`monitor.analysis.plot`, the facts beyond the timeline in `monitor.analysis.context`, the JSON document in
`monitor.analysis.export`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.analysis.timeline import CoChange, Onset, Regime, Series, SeriesTimeline, worst_regression
from monitor.text import markdown_code, markdown_inline, printable

if TYPE_CHECKING:
    from monitor.analysis.context import ReportContext
    from monitor.analysis.wire import WireSummary

__all__ = [
    "describe_onset",
    "render_report",
    "render_timeline",
    "window_line",
    "write_atomically",
]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# Names that Markdown shows as themselves (model ids, probe kinds, `server_close 1011`): left readable.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@/ -]*")


def _md(text: str) -> str:
    """A model name, probe or failure class from the records, shown as itself in Markdown (never markup)."""
    return text if _PLAIN.fullmatch(text) else markdown_inline(text)


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%" if rate < 0.995 or rate == 1 else f"{100 * rate:.2f}%"


def _rate(regime: Regime) -> str:
    return f"{_pct(regime.rate)} ({_pct(regime.rate_low)}-{_pct(regime.rate_high)})"


def _classes(regime: Regime) -> str:
    return ", ".join(
        f"{_md(name)}: {n}" for name, n in sorted(regime.failures_by_class.items(), key=lambda x: -x[1])
    )


def _resolution(timeline: SeriesTimeline) -> str:
    return "per probe" if timeline.resolution is None else f"{timeline.resolution:g} s steps"


def describe_onset(onset: Onset) -> str:
    """`between 17:41:00 and 17:42:00 UTC (95%)` plus the rates and a precision warning when due.

    An onset that may predate the window reads `failing since at least <its first turn>; widen --since`.
    """
    verb = "failing" if onset.rising else "recovered"
    if onset.open_start:
        text = (
            f"{verb} since at least {_hm(onset.after)} UTC, the window's first turn: the change may be older "
            f"(widen --since); failure rate {_pct(onset.rate_before)} (before the window) → "
            f"{_pct(onset.rate_after)}"
        )
    else:
        text = (
            f"between {_hm(onset.after)} and {_hm(onset.before)} UTC "
            f"(95%; first {'failure' if onset.rising else 'success'} of the new regime most likely at "
            f"{_hm(onset.most_likely)}), failure rate {_pct(onset.rate_before)} → {_pct(onset.rate_after)}"
        )
    if not onset.precise:
        text += "; low precision: the rates differ by less than 10x"
    return text


def _regime_table(timeline: SeriesTimeline) -> list[str]:
    lines = [
        "| Window (UTC) | Turns | Failures | Failure rate (95% CI) | Failures by class |",
        "|---|---|---|---|---|",
    ]
    for regime in timeline.regimes:
        lines.append(
            f"| {_hm(regime.start)} → {_hm(regime.end)} | {regime.trials} | {regime.failures} | "
            f"{_rate(regime)} | {_classes(regime)} |"
        )
    return lines


def _fenced(language: str, text: str) -> list[str]:
    """A fenced code block no backtick run inside `text` (a model name from the store) can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", printable(text), fence]


def _name(model: str, probe: str) -> str:
    return f"{_md(model)} ({_md(probe)})"


def _co_change_lines(co_changes: Sequence[CoChange]) -> list[str]:
    lines: list[str] = []
    for change in co_changes:
        direction = "rose" if change.rising else "fell"
        names = ", ".join(_name(m, p) for m, p, _ in change.changed)
        lines.append(
            f"- **{_hm(change.start)} → {_hm(change.end)} UTC**: failure rate {direction} on {names}. "
            "Counts: a changed series from its own onset, the others over this whole interval."
        )
        counts = {(w.model, w.probe): w for w in change.window}
        for m, p, onset in change.changed:
            w = counts.get((m, p))
            since = f"; {w.failures}/{w.trials} failed since" if w else ""
            lines.append(f"  - {_name(m, p)}: {describe_onset(onset)}{since}")
        for w in change.window:
            if w.changed:
                continue
            if w.changed_apart is not None:  # its own change, grouped on its own
                lines.append(
                    f"  - changed apart: {_name(w.model, w.probe)}: {w.failures}/{w.trials} failed over this "
                    f"interval; its own change at {_hm(w.changed_apart)} UTC is listed on its own"
                )
                continue
            state = "clean" if w.failures == 0 else "no change from its earlier rate"
            lines.append(
                f"  - unchanged: {_name(w.model, w.probe)}: {w.failures}/{w.trials} failed ({state})"
            )
    return lines or ["- no change point in any series."]


def window_line(
    series: Sequence[Series], window: tuple[datetime | None, datetime | None], made: datetime
) -> str:
    """`Window: A → B UTC (N turns, first .., last ..); made C UTC`: the one statement of what is covered."""
    starts = [float(s.times[0]) for s in series if s.times.size]
    ends = [float(s.times[-1]) for s in series if s.times.size]
    turns = sum(int(s.trials.sum()) for s in series)
    asked_start, asked_end = window
    first = _utc(min(starts)) if starts else None
    last = _utc(max(ends)) if ends else None
    start = asked_start or first
    end = asked_end or last
    span = f"{_hm(start)} → {_hm(end)} UTC" if start and end else "no turns"
    turns_text = f"{turns} turn{'' if turns == 1 else 's'}" + (
        f", first {_hm(first)}, last {_hm(last)}" if first and last else ""
    )
    return f"Window: {span} ({turns_text}); made {_hm(made)} UTC. Every count is over turns in this window."


def _prior_lines(timelines: Sequence[SeriesTimeline]) -> list[str]:
    grouped: dict[str, list[str]] = {}
    for t in timelines:
        if t.prior is not None:
            grouped.setdefault(t.prior.describe(), []).append(_name(t.model, t.probe))
    if not grouped:
        return []
    every = sum(len(names) for names in grouped.values()) == len(timelines) and len(grouped) == 1
    lines = [
        f"- {prior}: " + ("every series" if every else ", ".join(names)) for prior, names in grouped.items()
    ]
    return ["Known before the window (the rate each series' first regime is compared with):", "", *lines, ""]


def _series_section(timeline: SeriesTimeline) -> list[str]:
    out = [*_regime_table(timeline), ""]
    out += [f"- {'' if o.open_start else 'change '}{describe_onset(o)}" for o in timeline.changes]
    if (
        timeline.leading is not None
        and timeline.prior is not None
        and timeline.prior.failing_since is not None
    ):
        out.append(
            f"- the turns before the window show this episode since {_hm(timeline.prior.failing_since)} UTC "
            "(widen --since to bracket its onset)"
        )
    if timeline.excluded:
        out.append(f"- {timeline.excluded} prober_error turns excluded (our own failures).")
    return [*out, ""]


def render_timeline(
    timelines: Sequence[SeriesTimeline],
    co_changes: Sequence[CoChange],
    series: Sequence[Series] = (),
    *,
    source: str = "",
    window: tuple[datetime | None, datetime | None] = (None, None),
    made: datetime | None = None,
) -> str:
    """The `timeline` command's Markdown: the window, a regimes table per series, the cross-model view."""
    out = ["# Timeline", ""]
    if source:
        out += [f"Source: {source}.", ""]
    if made is not None:
        out += [window_line(series, window, made), ""]
    out += _prior_lines(timelines)
    for timeline in timelines:
        out.append(f"## {_md(timeline.model)} — {_md(timeline.probe)} ({_resolution(timeline)})")
        out.append("")
        if not timeline.regimes:
            out.append(f"No provider turns ({timeline.excluded} prober_error turns excluded).")
            out.append("")
            continue
        out.extend(_series_section(timeline))
    out += ["## Cross-model view", "", *_co_change_lines(co_changes), ""]
    return "\n".join(out)


def _headline(
    co_changes: Sequence[CoChange], timelines: Sequence[SeriesTimeline]
) -> tuple[str, CoChange | None]:
    worst = worst_regression(co_changes)
    if worst is None:
        elevated = [t for t in timelines if t.regimes and t.prior and t.regimes[-1].rate_low > t.prior.rate]
        if elevated:
            return "failure rate above its earlier level, no onset inside the window (widen --since)", None
        return "no failure-rate regression found", None
    _, _, onset = max(worst.changed, key=lambda c: c[2].rate_after - c[2].rate_before)
    models = sorted({m for m, _, _ in worst.changed})
    when = (
        f"failing since at least {_hm(onset.after)} UTC; widen --since"
        if onset.open_start
        else f"onset between {_hm(onset.after)} and {_hm(onset.before)} UTC"
    )
    return (
        f"{' / '.join(_md(m) for m in models)}: failure rate {_pct(onset.rate_before)} → "
        f"{_pct(onset.rate_after)} ({when})",
        worst,
    )


def _results_table(window: CoChange | None, series: Sequence[Series]) -> list[str]:
    """Incident 000's table: per model and probe, N and the turns per outcome class, since the onset."""
    start = window.start.timestamp() if window else float("-inf")
    end = window.end.timestamp() if window else float("inf")
    rows = []
    for s in series:
        inside = (s.times > start) & (s.times <= end)
        n = int(s.trials[inside].sum())
        if not n:
            continue
        by_class = dict(zip(s.classes, s.class_counts[inside].sum(axis=0).tolist(), strict=True))
        internal = by_class.pop("server_close 1011", 0)
        other = ", ".join(f"{_md(k)}: {v}" for k, v in sorted(by_class.items()) if v) or "0"
        ok = n - int(s.failures[inside].sum())
        rows.append(f"| {_md(s.model)} | {_md(s.probe)} | {n} | {ok}/{n} | {internal}/{n} | {other} |")
    return ["| Model | Probe | N | OK | 1011 | other |", "|---|---|---|---|---|---|", *rows]


def _wire_lines(wire: WireSummary | None) -> list[str]:
    if wire is None:
        return ["Not available: Prometheus counters carry no message sequences (use --db or --jsonl)."]

    def patterns(title: str, items: Sequence[Any], total: int) -> list[str]:
        lines = [f"{title} ({total} turn{'' if total == 1 else 's'}):", ""]
        # The sequence holds message kinds the server chose: one code span that no backtick in it can close.
        lines += [f"- {markdown_code(p.sequence)} — {p.count}/{total}" for p in items] or ["- none"]
        return [*lines, ""]

    lines = [
        "Server messages in order. `serverContent{...}`: a stream of those parts; "
        "`sessionResumptionUpdate {}`: no newHandle (the recovery session had to start fresh).",
        "",
    ]
    lines += patterns("Failure case", wire.failures, wire.failure_total)
    lines += patterns("Success case", wire.successes, wire.success_total)
    if wire.setup_delay:
        lo, mid, hi = (round(1000 * x) for x in wire.setup_delay)
        lines.append(f"- setup sent → setupComplete: {lo} / {mid} / {hi} ms (min / median / max)")
    if wire.failure_delay:
        lo, mid, hi = (round(1000 * x) for x in wire.failure_delay)
        lines.append(f"- turn sent → failure: {lo} / {mid} / {hi} ms (min / median / max)")
    return lines


def render_report(
    timelines: Sequence[SeriesTimeline],
    co_changes: Sequence[CoChange],
    series: Sequence[Series],
    context: ReportContext,
) -> str:
    """The incident report in Markdown."""
    headline, worst = _headline(co_changes, timelines)
    out = [f"# Gemini Live API — {headline}", ""]
    if context.made is not None:
        out += [window_line(series, context.window, context.made), ""]
    out += [f"Source: {context.source}.", "", "## Summary", ""]
    out += _co_change_lines(co_changes)
    out += ["", *_prior_lines(timelines), "## Timeline", ""]
    for timeline in timelines:
        if not timeline.changes:
            continue
        out += [f"### {_md(timeline.model)} — {_md(timeline.probe)}", "", *_series_section(timeline)]
    steady = [t for t in timelines if not t.changes and t.regimes]
    if steady:
        out += ["Series with one regime over the whole window:", ""]
        out += [
            f"- {_name(t.model, t.probe)}: {_rate(t.regimes[0])}, N={t.regimes[0].trials}" for t in steady
        ] + [""]
    out += ["## Reproduction", ""]
    if context.setup_payload is not None:
        out += [
            "The setup message the probe sends for this model (the model's `setup` file from the config, "
            "else the default payload; the API key is never part of it):",
            "",
        ]
        out += [*_fenced("json", json.dumps(context.setup_payload, indent=2)), ""]
    url = f" --url {shlex.quote(context.url)}" if context.url and not context.url_is_default else ""
    options = "".join(f" {name} {shlex.quote(value)}" for name, value in context.reproduce_options)
    credential = _CREDENTIAL_WORDS.get(dict(context.reproduce_options).get("--auth", ""), "key")
    out += [
        f"Run N turns and print the per-model table ({credential} from `GEMINI_API_KEY`):",
        "",
        *_fenced(
            "sh",
            f"live-monitor probe --model {shlex.quote(context.reproduce_model)} "
            f"--probe {shlex.quote(context.reproduce_probe)} -n 10{url}{options}",
        ),
        "",
    ]
    title = "## Results per model"
    if worst is not None:
        title += f" (turns after {_hm(worst.start)} up to {_hm(worst.end)} UTC: the regression's window)"
    else:
        title += " (the whole window)"
    out += [title, "", *_results_table(worst, series), ""]
    out += ["## Wire-level pattern", "", *_wire_lines(context.wire), ""]
    out += ["## Environment", ""]
    out.append(
        f"- Endpoint: {', '.join(_md(e) for e in context.endpoints) or 'not recorded'}"
        + (f" (URL per the config: {context.url})" if context.url else "")
    )
    if context.url:
        version = next(
            (v for v in ("v1alpha", "v1beta", "v1") if f".{v}." in context.url or f"/{v}/" in context.url),
            None,
        )
        out.append(f"- API version: {version or 'not in the URL'}")
    out.append(f"- Auth: {context.auth or 'not known (pass -c with the monitor config)'}")
    out.append(f"- Vantages: {', '.join(_md(v) for v in context.vantages) or 'not recorded'}")
    if context.quota:
        out.append("- Quota guards: " + ", ".join(f"{k} {v}" for k, v in context.quota.items()))
    excluded = sum(t.excluded for t in timelines)
    out.append(f"- prober_error turns excluded (our own failures, never the provider's): {excluded}")
    out.append("")
    return "\n".join(out)


# What `GEMINI_API_KEY` holds for `probe --auth`: header and query send the key itself.
_CREDENTIAL_WORDS = {
    "token": "an API key that mints one ephemeral token a probe",
    "bearer": "an OAuth access token, e.g. `$(gcloud auth print-access-token)`,",
}


def write_atomically(path: str, write: Callable[[Path], object]) -> None:
    """Call `write(temp)` on a temporary file next to `path`, then rename it over `path`.

    A symbolic link is written through (the file it points to is replaced, the link stays). What is not a
    regular file is never renamed over: a device or a pipe (`/dev/stdout`, a FIFO) is written in place, a
    directory is refused with the path the user gave."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if target.exists() and not target.is_file():
        write(target)
        return
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent or ".")
    os.close(handle)
    try:
        write(Path(temp))
        # mkstemp creates 0600; a report is for sharing, so give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        Path(temp).chmod(0o666 & ~umask)
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
