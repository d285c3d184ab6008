"""The failure-rate plot of the incident report: per (model, probe) over time, onset intervals shaded.

matplotlib is imported inside `write_plot`, with the Agg backend, so only `live-monitor report --plot`
pays for it (never the daemon).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.analysis.report import write_atomically
from monitor.analysis.timeline import Series, SeriesTimeline

__all__ = ["write_plot"]

# matplotlib's date axis counts days since 1970-01-01 UTC.
_DAY = 86400.0


def write_plot(path: str, timelines: Sequence[SeriesTimeline], series: Sequence[Series]) -> None:
    """One panel per model: failure rate per probe kind, binned dots, regime rates, onset intervals shaded."""
    import matplotlib  # noqa: PLC0415 - only the report pays for matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    models = sorted({t.model for t in timelines})
    figure, panels = plt.subplots(
        len(models), 1, figsize=(11, 1.2 + 2.2 * len(models)), dpi=110, sharex=True, squeeze=False
    )
    colours = dict(
        zip(("text", "audio", "tool"), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False)
    )
    for timeline, s in zip(timelines, series, strict=True):
        axes = panels[models.index(timeline.model), 0]
        colour = colours.get(timeline.probe, "black")
        if s.times.size:
            # Bins of ~10 trials (at most 60 a series): coarse enough for a rate, fine enough for a shape.
            count = int(max(1, min(60, s.trials.sum() // 10)))
            edges = np.linspace(s.times[0], s.times[-1] + 1e-6, count + 1)
            which = np.digitize(s.times, edges) - 1
            trials = np.bincount(which, weights=s.trials, minlength=count)
            failures = np.bincount(which, weights=s.failures, minlength=count)
            has = trials > 0
            mids = (edges[:-1] + edges[1:]) / 2
            axes.plot(mids[has] / _DAY, failures[has] / trials[has], "o", ms=3, color=colour, alpha=0.5)
        xs: list[float] = []
        ys: list[float] = []
        for regime in timeline.regimes:
            xs += [regime.start.timestamp() / _DAY, regime.end.timestamp() / _DAY]
            ys += [regime.rate, regime.rate]
        axes.plot(xs, ys, "-", lw=2, color=colour, label=timeline.probe)
        for onset in timeline.onsets:
            axes.axvspan(
                onset.after.timestamp() / _DAY, onset.before.timestamp() / _DAY, color=colour, alpha=0.25
            )
    for model, axes in zip(models, panels[:, 0], strict=True):
        axes.set_title(model, fontsize=9, loc="left")
        axes.set_ylim(-0.03, 1.03)
        axes.set_ylabel("failure rate")
        axes.legend(loc="upper left", fontsize=8)
        axes.grid(alpha=0.3)
    bottom = panels[-1, 0]
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    bottom.set_xlabel("time (UTC) — shaded: 95% onset interval; line: regime rate; dots: binned rate")
    figure.tight_layout()
    write_atomically(path, lambda temp: figure.savefig(temp, format="png"))
    plt.close(figure)
