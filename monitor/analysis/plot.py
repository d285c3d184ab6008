"""The failure-rate plot of the incident report: per (model, probe) over time, onset intervals shaded.

One panel per model. Each probe kind has its own colour, line style, line width and marker, so a probe
hidden under another (two series failing alike) still shows: the widest line is drawn first. Regime rates are
steps (a regime holds its rate until the next one starts); dots are binned rates at a bin width chosen
from the window (`bin_seconds`: at most 24 bins); each onset's 95% interval is shaded with its probe's hatch
and its most likely time is a thin vertical line. A panel without any change says so in a line of text. The
legend sits outside the data, right of the panels; the title states the window and when the plot was made,
in UTC.

matplotlib is imported inside `write_plot`, with the Agg backend, so only `live-monitor report --plot`
pays for it (never the daemon).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from monitor.analysis.report import write_atomically
from monitor.analysis.timeline import Series, SeriesTimeline

__all__ = ["bin_seconds", "write_plot"]

# matplotlib's date axis counts days since 1970-01-01 UTC.
_DAY: Final = 86400.0
# Bin widths a reader can name ("5-minute bins"), in seconds.
_NICE_BINS: Final = (
    60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
)  # fmt: skip
_TARGET_BINS: Final = 24
# Per probe kind: colour, line style, width, marker, hatch. Widest first, so narrower lines stay visible.
_STYLES: Final = {
    "text": ("#1f77b4", "-", 4.5, "o", "//"),
    "audio": ("#ff7f0e", "--", 3.0, "s", "\\\\"),
    "tool": ("#2ca02c", ":", 1.8, "^", ".."),
}
_OTHER_STYLE: Final = ("#7f7f7f", "-.", 1.2, "D", "xx")


def bin_seconds(span: float, resolution: float | None = None) -> int:
    """The dots' bin width for a window of `span` seconds: the nice width giving at most 24 bins.

    Never finer than the series' own resolution (a Prometheus step), never coarser than a week.
    """
    for width in _NICE_BINS:
        if span / width <= _TARGET_BINS and width >= (resolution or 0):
            return width
    return _NICE_BINS[-1]


def _label(width: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if width % size == 0:
            return f"{width // size} {unit}"
    return f"{width} s"


def write_plot(
    path: str,
    timelines: Sequence[SeriesTimeline],
    series: Sequence[Series],
    *,
    made: datetime | None = None,
) -> None:
    """One panel per model: failure rate per probe kind, binned dots, regime steps, onset intervals shaded."""
    import matplotlib  # noqa: PLC0415 - only the report pays for matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    models = sorted({t.model for t in timelines})
    starts = [float(s.times[0]) for s in series if s.times.size]
    ends = [float(s.times[-1]) for s in series if s.times.size]
    lo, hi = (min(starts), max(ends)) if starts else (0.0, 1.0)
    resolution = max((s.resolution or 0.0 for s in series), default=0.0)
    width = bin_seconds(max(hi - lo, 1.0), resolution or None)
    edges = np.arange(lo - lo % width, hi + width, width, dtype=np.float64)
    figure, panels = plt.subplots(
        max(len(models), 1), 1, figsize=(12.5, 1.6 + 2.3 * max(len(models), 1)), dpi=110, sharex=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    # Widest line first, so the narrower ones drawn over it stay visible where two probes fail alike.
    order = sorted(zip(timelines, series, strict=True), key=lambda pair: -_style(pair[0].probe)[2])
    changed = {t.model for t in timelines if t.changes}
    for timeline, s in order:
        _draw(panels[models.index(timeline.model), 0], timeline, s, edges, visible=(hi - lo) / 500)
    for model, axes in zip(models, panels[:, 0], strict=True):
        axes.set_title(model, fontsize=9, loc="left")
        axes.set_ylim(-0.04, 1.06)
        axes.set_xlim(lo / _DAY, max(hi, lo + 60) / _DAY)
        axes.set_ylabel("failure rate")
        axes.grid(alpha=0.3)
        if model not in changed:
            axes.text(
                0.5, 0.5, "no change point in this window: each probe kept one failure rate",
                transform=axes.transAxes, ha="center", va="center", fontsize=9, color="#59636e",
                bbox={"facecolor": "white", "edgecolor": "#d1d9e0", "boxstyle": "round"},
            )  # fmt: skip
    _finish(figure, panels[-1, 0], sorted({t.probe for t in timelines}), width)
    title = "Gemini Live probe failure rate"
    if starts:
        first, last = datetime.fromtimestamp(lo, tz=UTC), datetime.fromtimestamp(hi, tz=UTC)
        title += f", {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC"
    if made is not None:
        title += f" (made {made.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    figure.suptitle(title, fontsize=10, x=0.01, ha="left")
    write_atomically(path, lambda temp: figure.savefig(temp, format="png", bbox_inches="tight"))
    plt.close(figure)


def _style(probe: str) -> tuple[str, Any, float, str, str]:
    return _STYLES.get(probe, _OTHER_STYLE)


def _draw(axes: Any, timeline: SeriesTimeline, s: Series, edges: Any, *, visible: float) -> None:
    """One series on its model's panel: binned dots, regime steps, shaded onset intervals (at least
    `visible` seconds wide, a fifth of a percent of the window, so a one-probe interval still shows)."""
    import numpy as np  # noqa: PLC0415

    colour, style, line_width, marker, hatch = _style(timeline.probe)
    if s.times.size:
        which = np.clip(np.digitize(s.times, edges) - 1, 0, edges.size - 2)
        trials = np.bincount(which, weights=s.trials, minlength=edges.size - 1)
        failures = np.bincount(which, weights=s.failures, minlength=edges.size - 1)
        has = trials > 0
        mids = (edges[:-1] + edges[1:]) / 2
        axes.plot(
            mids[has] / _DAY, failures[has] / trials[has], marker, ms=6, color=colour, alpha=0.6,
            markeredgecolor="white", markeredgewidth=0.6, linestyle="none",
        )  # fmt: skip
    xs: list[float] = []
    ys: list[float] = []
    for i, regime in enumerate(timeline.regimes):
        following = timeline.regimes[i + 1].start if i + 1 < len(timeline.regimes) else regime.end
        xs += [regime.start.timestamp() / _DAY, following.timestamp() / _DAY]
        ys += [regime.rate, regime.rate]
    axes.plot(xs, ys, linestyle=style, lw=line_width, color=colour, drawstyle="steps-post", alpha=0.9)
    for onset in timeline.changes:
        start = onset.after.timestamp() / _DAY
        end = max(onset.before.timestamp() / _DAY, start + visible / _DAY)
        axes.axvspan(start, end, facecolor=colour, alpha=0.18, hatch=hatch, edgecolor=colour, lw=0)
        axes.axvline(onset.most_likely.timestamp() / _DAY, color=colour, lw=1, linestyle=style)
        if onset.open_start:
            axes.annotate(
                "failing since at least here", (start, 1.0), xytext=(4, -12), textcoords="offset points",
                fontsize=7, color=colour,
            )  # fmt: skip


def _finish(figure: Any, bottom: Any, probes: Sequence[str], width: int) -> None:
    """The legend right of the panels (outside the data) and the time axis."""
    import matplotlib.dates as mdates  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    handles: list[Any] = []
    for probe in probes:
        colour, style, line_width, marker, _hatch = _style(probe)
        handles.append(
            Line2D(
                [], [], color=colour, linestyle=style, lw=line_width, marker=marker, markersize=6, label=probe
            )
        )
    handles += [
        Patch(facecolor="#999999", alpha=0.3, hatch="//", label="95% onset interval"),
        Line2D([], [], color="#555555", lw=1, label="most likely onset"),
        Line2D(
            [], [], color="#555555", marker="o", linestyle="none", alpha=0.6, label=f"{_label(width)} bins"
        ),
    ]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    bottom.set_xlabel("time (UTC) — steps: regime failure rate; dots: binned failure rate")
