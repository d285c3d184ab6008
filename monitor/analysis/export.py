"""The `timeline --format json` document: windows, priors, regimes, onsets and co-changes, times in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.analysis.timeline import LEVEL, CoChange, Onset, Regime, Series, SeriesTimeline
from monitor.probe.record import format_utc

__all__ = ["timeline_json"]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def timeline_json(
    timelines: Sequence[SeriesTimeline],
    co_changes: Sequence[CoChange],
    series: Sequence[Series] = (),
    *,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> dict[str, Any]:
    """The `timeline --format json` document."""
    starts = [float(s.times[0]) for s in series if s.times.size]
    ends = [float(s.times[-1]) for s in series if s.times.size]

    def regime(r: Regime) -> dict[str, Any]:
        return {
            "start": format_utc(r.start),
            "end": format_utc(r.end),
            "trials": r.trials,
            "failures": r.failures,
            "rate": r.rate,
            "rate_ci95": [r.rate_low, r.rate_high],
            "failures_by_class": dict(r.failures_by_class),
        }

    def onset(o: Onset) -> dict[str, Any]:
        return {
            "after": format_utc(o.after),
            "before": format_utc(o.before),
            "most_likely": format_utc(o.most_likely),
            "level": LEVEL,
            "width_bins": o.width_bins,
            "rate_before": o.rate_before,
            "rate_after": o.rate_after,
            "precise": o.precise,
            "open_start": o.open_start,
        }

    def prior(t: SeriesTimeline) -> dict[str, Any] | None:
        if t.prior is None:
            return None
        since = t.prior.failing_since
        return {
            "source": t.prior.source.value,
            "failures": t.prior.failures,
            "trials": t.prior.trials,
            "failing_since": format_utc(since) if since else None,
        }

    return {
        "window": {
            "since": format_utc(window[0]) if window[0] else None,
            "until": format_utc(window[1]) if window[1] else None,
            "first_turn": format_utc(_utc(min(starts))) if starts else None,
            "last_turn": format_utc(_utc(max(ends))) if ends else None,
        },
        "series": [
            {
                "model": t.model,
                "probe": t.probe,
                "resolution_seconds": t.resolution,
                "excluded_prober_errors": t.excluded,
                "prior": prior(t),
                "regimes": [regime(r) for r in t.regimes],
                "leading_onset": onset(t.leading) if t.leading else None,
                "onsets": [onset(o) for o in t.onsets],
            }
            for t in timelines
        ],
        "co_changes": [
            {
                "start": format_utc(c.start),
                "end": format_utc(c.end),
                "direction": "rising" if c.rising else "falling",
                "changed": [{"model": m, "probe": p, "onset": onset(o)} for m, p, o in c.changed],
                "window": [
                    {
                        "model": w.model,
                        "probe": w.probe,
                        "trials": w.trials,
                        "failures": w.failures,
                        "changed": w.changed,
                        "changed_apart": format_utc(w.changed_apart) if w.changed_apart else None,
                    }
                    for w in c.window
                ],
            }
            for c in co_changes
        ],
    }
