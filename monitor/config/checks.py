"""Rules over a whole configuration, once every section is valid: references between sections (duplicate
endpoints and models, unknown endpoints), the quota arithmetic per key, and the summary `check-config` prints.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Final

from monitor.daemon.budget import EndpointSchedule, schedule_problems
from monitor.probe.target import AuthKind

if TYPE_CHECKING:
    from monitor.config.settings import MonitorSettings

__all__ = ["MAX_TURNS_PER_MINUTE", "capacity_problems", "describe", "quota_problems", "reference_problems"]


def reference_problems(settings: MonitorSettings) -> list[str]:
    problems: list[str] = []
    names = Counter(e.name for e in settings.endpoints)
    for i, endpoint in enumerate(settings.endpoints):
        if names[endpoint.name] > 1:
            problems.append(f"endpoints[{i}].name: duplicate endpoint {endpoint.name!r}")
    known = [e.name for e in settings.endpoints]
    first_seen: dict[tuple[str, str], int] = {}
    for i, model in enumerate(settings.models):
        if model.endpoint and model.endpoint not in known:
            problems.append(
                f"models[{i}].endpoint: unknown endpoint {model.endpoint!r} (defined: {', '.join(known)})"
            )
            continue
        key = (model.endpoint or known[0], model.id)
        if key in first_seen:
            problems.append(
                f"models[{i}].id: duplicate model {model.id!r} on endpoint {key[0]!r} "
                f"(first at models[{first_seen[key]}])"
            )
        first_seen.setdefault(key, i)
    total, interval = settings.probes.timeouts.budgets().total, settings.probes.interval
    for i, endpoint in enumerate(settings.endpoints):  # a mint comes before every session of a token endpoint
        if endpoint.auth is AuthKind.TOKEN and total + endpoint.credentials_seconds > interval:
            problems.append(
                f"endpoints[{i}].token.timeout: {endpoint.credentials_seconds:g} s + probes.timeouts "
                f"{total:g} s exceed probes.interval {interval:g} s (the mint comes before every session)"
            )
    return problems


# What one daemon (one process, one event loop, one SQLite writer) is refused beyond: probe turns per minute.
# Measured within every target at 1,000 jobs a minute on a 2-core machine (docs/daemon.md, "Scale"); twice
# that is where the loop's share of one core nears its limit. 10,000 models are a fleet: shard them.
MAX_TURNS_PER_MINUTE: Final = 2000


def capacity_problems(settings: MonitorSettings) -> list[str]:
    """One problem if the configuration asks one daemon for more probe turns a minute than it can run."""
    jobs = sum(len(settings.kinds_of(model)) for model in settings.models)
    per_minute = jobs * 60.0 / settings.probes.interval
    if per_minute <= MAX_TURNS_PER_MINUTE:
        return []
    return [
        f"models: {jobs} probe jobs every {settings.probes.interval:g} s is {per_minute:,.0f} probe turns a "
        f"minute; one daemon runs at most {MAX_TURNS_PER_MINUTE:,} (measured within its latency and CPU "
        "targets at 1,000): split the models across daemons, each with its own store and scraped by "
        "Prometheus (docs/deployment.md, 'Sharding'), or lengthen probes.interval"
    ]


def quota_problems(settings: MonitorSettings) -> list[str]:
    """The quota arithmetic per endpoint (= per key): refuse a schedule the budgets cannot pay for."""
    schedules = [
        EndpointSchedule(
            endpoint.name,
            tuple(len(settings.kinds_of(m)) for m in settings.models if settings.endpoint_of(m) is endpoint),
        )
        for endpoint in settings.endpoints
    ]
    return schedule_problems(
        schedules,
        interval=settings.probes.interval,
        sessions_per_minute=settings.budgets.sessions_per_minute,
        sessions_per_day=settings.budgets.sessions_per_day,
    )


def describe(settings: MonitorSettings) -> str:
    """A short human summary of a valid configuration (what `check-config` prints)."""
    jobs = len(settings.targets())
    per_minute = jobs * 60.0 / settings.probes.interval
    lines = [
        f"  {len(settings.models)} models on {len(settings.endpoints)} endpoint(s), {jobs} probe jobs "
        f"every {settings.probes.interval:g} s",
        f"  {per_minute:g} sessions/min of {settings.budgets.sessions_per_minute} budgeted per key, "
        f"at most {settings.budgets.max_concurrent_sessions} at once per endpoint",
        f"  store {settings.store.path}, web app on {settings.listen}, vantage {settings.vantage!r}",
    ]
    lines += [f"  note: {problem}" for problem in settings.missing_keys()]
    for i, endpoint in enumerate(settings.endpoints):
        if (google := endpoint.access.google) is not None:
            where = f", project {endpoint.access.project!r}" if endpoint.access.project else ""
            quota = (
                f", quota project {endpoint.access.quota_project!r}" if endpoint.access.quota_project else ""
            )
            lines.append(
                f"  endpoints[{i}] {endpoint.name!r}: Google credentials from {google.source}{where}{quota}"
            )
    return "\n".join(lines)
