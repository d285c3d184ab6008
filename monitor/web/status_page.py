"""The status page: the numbers it shows (from the store) and its server-rendered HTML.

Per (model, probe): since when it fails or has been healthy (the daemon's `RegimeTracker`: "failing since
17:41 (onset between 17:40 and 17:41)", "healthy for 3 d"), a sparkline of the last hour of turns (inline
SVG, from the tracker's turns: no store query), the last turn, the success ratio over 1 h and 24 h with N,
first-audio p50/p95, and the last failures, each a `<details>` element that expands to its wire trace
(incident 000's "wire-level pattern") and timings. Every configured job has its row from the start ("no
turn yet"). No JavaScript. Every string that reaches the page goes through `html.escape`: close
reasons and details are server- or probe-controlled text. Records hold no secrets and no URLs; the page
adds none.

Ratio rule: `prober_error` turns (our own bugs) are left out of the ratio and its N, as they are never
counted against the provider; they are still listed among the failures. Percentiles are nearest-rank over
every turn in the window that received audio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Final

from monitor.daemon.metrics import ModelInfo
from monitor.daemon.regime import RegimeTracker, SeriesRegime
from monitor.probe.outcome import Outcome, Phase, ProbeKind, TimingPhase
from monitor.probe.record import ProbeResult, format_utc
from monitor.store.records import Store

__all__ = ["JobStatus", "WindowStats", "collect_status", "render_status_page"]

WINDOWS: Final = (timedelta(hours=1), timedelta(hours=24))
SPARK_WINDOW: Final = timedelta(hours=1)
FAILURES_SHOWN: Final = 8
_FAILURES: Final = tuple(o for o in Outcome if o is not Outcome.OK)
_TURN_LABELS: Final = {
    ProbeKind.TEXT: "turn sent (text probe)",
    ProbeKind.AUDIO: "turn sent (audio probe: realtimeInput.audio + activityEnd)",
    ProbeKind.TOOL: "turn sent (tool probe)",
}


@dataclass(frozen=True, slots=True)
class WindowStats:
    window: timedelta
    turns: int  # provider-judged turns (prober_error excluded)
    ok: int
    prober_errors: int
    first_audio_p50: float | None
    first_audio_p95: float | None
    # Failure classes in the window, most frequent first: ("server_close 1011", 73), ("timeout", 2).
    failure_classes: tuple[tuple[str, int], ...] = ()

    @property
    def ratio(self) -> float | None:
        return self.ok / self.turns if self.turns else None


@dataclass(frozen=True, slots=True)
class JobStatus:
    model: str
    probe: ProbeKind
    last: ProbeResult | None
    windows: tuple[WindowStats, ...]
    failures: tuple[ProbeResult, ...]  # newest first
    regime: SeriesRegime | None = None  # None: the daemon holds no turn of this job yet
    recent: tuple[tuple[float, bool], ...] = ()  # the last hour's turns: (epoch seconds, failed)


def collect_status(store: Store, now: datetime, regimes: RegimeTracker | None = None) -> list[JobStatus]:
    """Everything the page shows, read from the store (blocking: run it in a worker thread).

    With the daemon's `regimes`, each row carries its regime and last hour of turns, and every configured job
    has a row even before its first turn.
    """
    tracked: dict[tuple[str, ProbeKind], tuple[SeriesRegime | None, tuple[tuple[float, bool], ...]]] = {}
    if regimes is not None:
        horizon = (now - SPARK_WINDOW).timestamp()
        for (_endpoint, model, probe), (regime, turns) in sorted(regimes.snapshot().items()):
            recent = tuple(turn for turn in turns if turn[0] >= horizon)
            tracked.setdefault((model, ProbeKind(probe)), (regime, recent))
    stored = store.jobs()
    known = set(stored)
    jobs = []
    for model, probe in [*stored, *(job for job in tracked if job not in known)]:
        windows = []
        for window in WINDOWS:
            counts = store.outcome_counts(model=model, probe=probe, since=now - window)
            bugs = sum(n for (outcome, _), n in counts.items() if outcome is Outcome.PROBER_ERROR)
            classes = Counter[str]()
            for (outcome, code), n in counts.items():
                if outcome is not Outcome.OK:
                    classes[f"{outcome.value} {'' if code is None else code}".strip()] += n
            latency = store.first_audio_percentiles(model=model, probe=probe, since=now - window)
            windows.append(
                WindowStats(
                    window=window,
                    turns=sum(counts.values()) - bugs,
                    ok=sum(n for (outcome, _), n in counts.items() if outcome is Outcome.OK),
                    prober_errors=bugs,
                    first_audio_p50=latency[50],
                    first_audio_p95=latency[95],
                    failure_classes=tuple(classes.most_common()),
                )
            )
        last = store.query(model=model, probe=probe, limit=1, newest_first=True)
        failures = store.query(
            model=model, probe=probe, outcomes=_FAILURES, limit=FAILURES_SHOWN, newest_first=True
        )
        regime, recent = tracked.get((model, probe), (None, ()))
        jobs.append(
            JobStatus(
                model, probe, last[0] if last else None, tuple(windows), tuple(failures), regime, recent
            )
        )
    return jobs


# -- rendering -----------------------------------------------------------------------------------------------

_STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.2rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; } h3 .muted { font-weight: normal; }
.meta, .muted { color: #59636e; } a { color: #0969da; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #d1d9e0; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, .num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .failed { color: #cf222e; font-weight: 600; }
.bug { color: #59636e; font-weight: 600; } .warn { color: #9a6700; font-weight: 600; }
.badge { font-size: .75rem; border: 1px solid #d1d9e0; border-radius: 1em; padding: 0 .5em; color: #59636e; }
details { border: 1px solid #d1d9e0; border-radius: 6px; margin: .3rem 0; padding: .2rem .6rem; }
details[open] { background: #f6f8fa; } summary { cursor: pointer; }
code, .wire td { font-family: ui-monospace, monospace; font-size: 13px; }
.wire td.server { color: #8250df; } .wire td.client { color: #0969da; }
.cols { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
svg.spark { vertical-align: middle; background: #f6f8fa; border-radius: 2px; }
svg.spark path { stroke-width: 2; fill: none; }
svg.spark .ok { stroke: #1a7f37; } svg.spark .failed { stroke: #cf222e; }
"""


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _outcome(outcome: Outcome) -> str:
    css = {Outcome.OK: "ok", Outcome.PROBER_ERROR: "bug"}.get(outcome, "failed")
    return f'<span class="{css}">{escape(outcome.value)}</span>'


def _ratio(stats: WindowStats) -> str:
    if stats.ratio is None:
        return '<span class="muted">no turns</span>'
    css = "ok" if stats.ratio >= 0.99 else "warn" if stats.ratio >= 0.9 else "failed"
    bugs = f' <span class="muted">+{stats.prober_errors} prober_error</span>' if stats.prober_errors else ""
    return f'<span class="{css}">{100 * stats.ratio:.1f} %</span> (N={stats.turns}){bugs}'


def _percentiles(stats: WindowStats) -> str:
    if stats.first_audio_p50 is None:
        return '<span class="muted">—</span>'
    return f"{_seconds(stats.first_audio_p50)} / {_seconds(stats.first_audio_p95)}"


def _classes(stats: WindowStats) -> str:
    if not stats.failure_classes:
        return ""
    listed = ", ".join(f"{escape(name)} ×{n}" for name, n in stats.failure_classes)  # noqa: RUF001 - a times sign
    return f' <span class="muted">— {_window(stats.window)}: {listed}</span>'


def _hhmm(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%H:%M")


def _hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%H:%M:%S")


def _duration(seconds: float) -> str:
    """`3 d 4 h`, `1 h 59 min`, `12 min`, `40 s`: two units at most, rounded down (never overstated)."""
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    left = max(0, int(seconds))
    for i, (unit, size) in enumerate(units):
        if left >= size or unit == "s":
            text = f"{left // size} {unit}"
            if i + 1 < len(units) and unit != "min":
                smaller, smaller_size = units[i + 1]
                rest = (left % size) // smaller_size
                text += f" {rest} {smaller}" if rest else ""
            return text
    return "0 s"


def since_when(regime: SeriesRegime | None, now: datetime, *, stored: bool) -> str:
    """`failing since 17:41 (onset between 17:40 and 17:41)`, `healthy for 3 d`, or `no turn yet` (HTML)."""
    if regime is None:
        return '<span class="muted">no turn yet</span>' if not stored else '<span class="muted">—</span>'
    if regime.failing:
        assert regime.onset_after is not None
        assert regime.onset_before is not None
        if regime.open_start:
            where = f"at least since {_hhmm(regime.onset_after)} UTC (before the turns held)"
            return f'<span class="failed">failing</span> {where}'
        # Seconds when the interval is under two minutes: "between 21:15 and 21:15" would say nothing.
        at = _hhmmss if regime.onset_before - regime.onset_after < 120 else _hhmm
        between = f"onset between {at(regime.onset_after)} and {at(regime.onset_before)}"
        return (
            f'<span class="failed">failing since {at(regime.since)}</span> '
            f'<span class="muted">({between} UTC, {100 * regime.rate:.0f}% of {regime.turns})</span>'
        )
    age = _duration(now.timestamp() - regime.since)
    # open_start on a healthy regime: healthy since the oldest turn the daemon holds, perhaps longer.
    at_least = "at least " if regime.open_start else ""
    start = datetime.fromtimestamp(regime.since, tz=UTC)
    when = _hhmm(regime.since) if start.date() == now.astimezone(UTC).date() else f"{start:%Y-%m-%d %H:%M}"
    since = f'<span class="muted">(since {when} UTC)</span>'
    return f'<span class="ok">healthy</span> for {at_least}{age} {since}'


_SPARK_WIDTH: Final = 120
_SPARK_HEIGHT: Final = 16


def sparkline(turns: Sequence[tuple[float, bool]], now: datetime) -> str:
    """The last hour of turns as inline SVG: a tick a turn, tall red for a failure, short green for ok.

    One path per class (not an element per turn), so a row costs well under a kilobyte at 1,000 rows.
    """
    start = (now - SPARK_WINDOW).timestamp()
    span = SPARK_WINDOW.total_seconds()
    paths: dict[bool, list[str]] = {False: [], True: []}
    for at, is_failure in turns:
        x = max(1.0, min(_SPARK_WIDTH - 1.0, 1 + (at - start) / span * (_SPARK_WIDTH - 2)))
        paths[is_failure].append(f"M{x:.1f} {_SPARK_HEIGHT}v-{_SPARK_HEIGHT if is_failure else 6}")
    failed = len(paths[True])
    drawn = "".join(
        f'<path class="{"failed" if kind else "ok"}" d="{"".join(parts)}"/>'
        for kind, parts in paths.items()
        if parts
    )
    label = f"last hour: {len(turns)} turns, {failed} failed"
    return (
        f'<svg class="spark" width="{_SPARK_WIDTH}" height="{_SPARK_HEIGHT}" role="img" '
        f'viewBox="0 0 {_SPARK_WIDTH} {_SPARK_HEIGHT}"><title>{label}</title>{drawn}</svg>'
    )


def _summary_row(job: JobStatus, now: datetime, aliases: Mapping[str, bool]) -> str:
    badge = ""
    if job.model in aliases:
        badge = f' <span class="badge">{"alias" if aliases[job.model] else "pinned"}</span>'
    if job.last is None:
        last = '<span class="muted">no turn yet</span>'
    else:
        code = f" {job.last.code}" if job.last.code is not None else ""
        ago = _ago(job.last.started_at, now)
        last = f'{_outcome(job.last.outcome)}{escape(code)} <span class="muted">{ago}</span>'
    cells = [
        f'<a href="#{escape(_anchor(job))}">{escape(job.model)}</a>{badge}',
        escape(job.probe.value),
        since_when(job.regime, now, stored=job.last is not None),
        sparkline(job.recent, now),
        last,
        *(_ratio(stats) for stats in job.windows),
        *(f'<span class="num">{_percentiles(stats)}</span>' for stats in job.windows),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _anchor(job: JobStatus) -> str:
    return f"job-{job.model}-{job.probe.value}"


def _frames(messages: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Messages of one frame share a timestamp: join them ("serverContent.modelTurn + …")."""
    frames: list[tuple[str, float]] = []
    for kind, at in messages:
        if frames and frames[-1][1] == at and kind != "close" and not frames[-1][0].endswith("close"):
            frames[-1] = (f"{frames[-1][0]} + {kind}", at)
        else:
            frames.append((kind, at))
    return frames


def _wire_rows(result: ProbeResult) -> list[tuple[float, str, str]]:
    """(seconds since the turn was sent, direction, what) in time order; runs of one frame shape collapsed."""
    rows: list[tuple[float, str, str]] = []
    setup_complete = next((t for kind, t in result.messages if kind == "setupComplete"), None)
    setup = result.timings.get(TimingPhase.SETUP)
    if setup_complete is not None and setup is not None:
        rows.append((setup_complete - setup, "client", "setup"))
    if result.phase not in (Phase.CONNECT, Phase.SETUP):
        rows.append((0.0, "client", _TURN_LABELS[result.probe]))
    frames = _frames(result.messages)
    index = 0
    while index < len(frames):
        kind, first = frames[index]
        run = 1
        while index + run < len(frames) and frames[index + run][0] == kind:
            run += 1
        last = frames[index + run - 1][1]
        what = kind if run == 1 else f"{kind} x{run} (until {last:+.3f} s)"
        sender = "server"
        if kind == "close":
            # The trace records every session end; the client closes an ok session itself.
            sender = "client" if result.close_initiator == "client" else "server"
            code = "" if result.code is None else f" code={result.code}"
            reason = f' "{result.close_reason}"' if result.close_reason else ""
            what = f"close{code}{reason}"
        rows.append((first, sender, what))
        index += run
    return sorted(rows, key=lambda row: row[0])


def _details(result: ProbeResult, *, is_open: bool) -> str:
    code = "" if result.code is None else str(result.code)
    summary = " · ".join(
        part
        for part in (
            f"<time>{escape(format_utc(result.started_at))}</time>",
            _outcome(result.outcome),
            escape(code),
            escape(result.cause.value),
            escape(result.phase.value),
            f"“{escape(result.close_reason)}”" if result.close_reason else "",
        )
        if part
    )
    wire = "".join(
        f'<tr><td class="num">{t:+.3f} s</td><td class="{d}">{d} →</td><td>{escape(what)}</td></tr>'
        for t, d, what in _wire_rows(result)
    )
    timings = "".join(
        f"<tr><th>{escape(p.value)}</th><td class='num'>{_seconds(result.timings.get(p))}</td></tr>"
        for p in TimingPhase
    )
    facts = [
        ("run_id", result.run_id),
        ("endpoint", result.endpoint),
        ("vantage", result.vantage),
        ("close initiator", result.close_initiator or "—"),
        ("detail", result.detail or "—"),
    ]
    if result.recovery is not None:
        recovery = result.recovery
        facts.append(
            ("recovery", f"{recovery.kind.value} {recovery.outcome.value} in {recovery.seconds:.3f} s")
        )
    facts_html = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in facts)
    link = f'<a href="?open={escape(result.run_id)}#run-{escape(result.run_id)}">link</a>'
    return (
        f'<details class="turn" id="run-{escape(result.run_id)}"{" open" if is_open else ""}>'
        f"<summary>{summary} <span class='muted'>{link}</span></summary>"
        f'<table class="wire"><tr><th>t since turn</th><th>from</th><th>message</th></tr>{wire}</table>'
        f'<div class="cols"><table><tr><th colspan=2>timings</th></tr>{timings}</table>'
        f"<table>{facts_html}</table></div></details>"
    )


def render_status_page(
    jobs: Sequence[JobStatus],
    *,
    now: datetime,
    selected: ProbeResult | None = None,
    open_run_id: str | None = None,
    models: Sequence[ModelInfo] = (),
    refresh_seconds: int = 60,
) -> str:
    """The whole HTML document. `open_run_id` opens that turn's details (`selected` is shown on top if it is
    not among the failures listed); auto-refresh is off while a turn is open, so it does not collapse."""
    aliases = {info.model: info.alias for info in models}
    head_cells = ["Model", "Probe", "Since when", "Last hour", "Last turn"]
    head_cells += [f"Success {_window(w)}" for w in WINDOWS]
    head_cells += [f"First audio p50 / p95 ({_window(w)})" for w in WINDOWS]
    head = "".join(f"<th>{escape(cell)}</th>" for cell in head_cells)
    rows = "".join(_summary_row(job, now, aliases) for job in jobs)
    listed = {failure.run_id for job in jobs for failure in job.failures}
    chosen = ""
    if open_run_id is not None and open_run_id not in listed:
        if selected is None:
            chosen = f"<p class='failed'>No record with run_id <code>{escape(open_run_id)}</code>.</p>"
        else:
            chosen = "<h2>Selected turn</h2>" + _details(selected, is_open=True)
    sections = []
    for job in jobs:
        failures = "".join(_details(f, is_open=f.run_id == open_run_id) for f in job.failures)
        sections.append(
            f'<section id="{escape(_anchor(job))}"><h3>{escape(job.model)} · {escape(job.probe.value)}'
            f"{_classes(job.windows[-1])}</h3>"
            + (failures or '<p class="muted">No failures stored.</p>')
            + "</section>"
        )
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if open_run_id is None else ""
    body = (
        "<h1>Gemini Live API monitor</h1>"
        f'<p class="meta">{escape(format_utc(now))} · '
        '<a href="/metrics">/metrics</a> · <a href="/api/results?since=1h">/api/results</a> · '
        '<a href="/healthz">/healthz</a></p>'
        + (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if jobs else "")
        + ("" if jobs else '<p class="muted">No probe turns stored yet.</p>')
        + chosen
        + "<h2>Last failures</h2>"
        + "".join(sections)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{refresh}<title>live-monitor status</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _window(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} h"
