"""The failure-rate plot of the incident report: per (model, probe) over time, onset intervals shaded.

matplotlib is imported inside `write_plot`, with the Agg backend, so only `live-monitor report --plot`
pays for it (never the daemon).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.report import write_atomically
from monitor.timeline import Series, SeriesTimeline

__all__ = ["write_plot"]

# matplotlib's date axis counts days since 1970-01-01 UTC.
_DAY = 86400.0


def write_plot(path: str, timelines: Sequence[SeriesTimeline], series: Sequence[Series]) -> None:
    """Failure rate per (model, probe) over time: binned points, regime rates, onset intervals shaded."""
    import matplotlib  # noqa: PLC0415 - only the report pays for matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(11, 5), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (timeline, s) in enumerate(zip(timelines, series, strict=True)):
        if not s.times.size:
            continue
        colour = colours[i % len(colours)]
        label = f"{timeline.model} ({timeline.probe})"
        # ~60 bins over the series: enough to see the shape, coarse enough for a rate.
        edges = np.linspace(s.times[0], s.times[-1] + 1e-6, min(61, s.times.size + 1))
        which = np.digitize(s.times, edges) - 1
        trials = np.bincount(which, weights=s.trials, minlength=edges.size - 1)
        failures = np.bincount(which, weights=s.failures, minlength=edges.size - 1)
        has = trials > 0
        mids = (edges[:-1] + edges[1:]) / 2
        axes.plot(mids[has] / _DAY, failures[has] / trials[has], "o", ms=3, color=colour, alpha=0.5)
        xs: list[float] = []
        ys: list[float] = []
        for regime in timeline.regimes:
            xs += [regime.start.timestamp() / _DAY, regime.end.timestamp() / _DAY]
            ys += [regime.rate, regime.rate]
        axes.plot(xs, ys, "-", lw=2, color=colour, label=label)
        for onset in timeline.onsets:
            axes.axvspan(
                onset.after.timestamp() / _DAY, onset.before.timestamp() / _DAY, color=colour, alpha=0.25
            )
    axes.set_ylim(-0.02, 1.02)
    axes.set_ylabel("failure rate")
    axes.set_xlabel("time (UTC); shaded: 95% onset intervals; lines: regime rates; dots: binned rates")
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    write_atomically(path, lambda temp: figure.savefig(temp, format="png"))
    plt.close(figure)
