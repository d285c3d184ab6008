"""The daemon's configuration: a YAML file plus `LIVE_MONITOR_*` environment overrides, validated at start.

This module (with `monitor.config.sources`, which finds and reads the files) is the only reader of
configuration files and of the environment (including `GEMINI_API_KEY` and key files). Everything else
receives validated values: `ProbeTarget`s, budgets, paths.

Precedence, lowest first: model defaults < the YAML file < `LIVE_MONITOR_<SECTION>__<KEY>` variables. The file
is `-c FILE`, else `$LIVE_MONITOR_CONFIG`, else `config/monitor.yaml`. Unknown keys are errors, and every
problem is reported at once as `<path>: <rule>` in one `ConfigError`, like blackbox_exporter's strict loader.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from monitor.config.sources import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    deep_merge,
    read_setup,
    read_yaml,
    relative_to,
    resolve_config_path,
)
from monitor.config.syntax import (
    ConfigError,
    Duration,
    PositiveDuration,
    parse_duration,
    parse_listen,
    problems_of,
)
from monitor.daemon.budget import EndpointSchedule, schedule_problems
from monitor.probe.outcome import ProbeKind
from monitor.probe.target import AuthKind, PhaseBudgets, ProbeLimits, ProbeTarget, TextPath

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ConfigError",
    "MonitorSettings",
    "describe",
    "load_settings",
    "parse_duration",
    "parse_listen",
    "quota_problems",
    "resolve_config_path",
]

ENV_PREFIX = "LIVE_MONITOR_"
GEMINI_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointSettings(_Section):
    """One Live API endpoint and the key that probes it; the key never leaves a SecretStr."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = GEMINI_URL
    auth: AuthKind = AuthKind.HEADER
    api_key_env: str = "GEMINI_API_KEY"
    api_key_file: Path | None = None
    _api_key: SecretStr = PrivateAttr(default_factory=lambda: SecretStr(""))

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, url: str) -> str:
        if not re.match(r"^wss?://[^/\s]+", url):
            raise ValueError(f"must be a ws:// or wss:// URL (got {url!r})")
        return url

    @field_validator("api_key_file")
    @classmethod
    def _readable_key_file(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                path.read_text(encoding="utf-8")
            except OSError as error:
                raise ValueError(f"cannot read {str(path)!r}: {error.strerror}") from None
        return path

    @model_validator(mode="after")
    def _resolve_key(self) -> EndpointSettings:
        # Docker's convention ($POSTGRES_PASSWORD_FILE): $GEMINI_API_KEY_FILE names a secret file, so a
        # container takes its key from /run/secrets without a config file of its own.
        env_file = os.environ.get(f"{self.api_key_env}_FILE", "").strip()
        if self.api_key_file is not None:
            key = self.api_key_file.read_text(encoding="utf-8").strip()
        elif env_file:
            try:
                key = Path(env_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                variable = f"${self.api_key_env}_FILE"
                raise ValueError(f"{variable}: cannot read {env_file!r}: {error.strerror}") from None
        else:
            key = os.environ.get(self.api_key_env, "").strip()
        self._api_key = SecretStr(key)
        return self

    @property
    def api_key(self) -> SecretStr:
        return self._api_key


class TimeoutSettings(_Section):
    """Per-phase budgets; a phase that runs out is a `timeout` outcome in that phase."""

    connect: PositiveDuration = 10.0
    setup: PositiveDuration = 10.0
    first_response: PositiveDuration = 15.0
    turn: PositiveDuration = 30.0

    @model_validator(mode="after")
    def _first_response_within_turn(self) -> TimeoutSettings:
        if self.first_response > self.turn:
            raise ValueError(
                f"first_response {self.first_response:g} s exceeds turn {self.turn:g} s "
                "(the first response is part of the turn)"
            )
        return self

    def budgets(self) -> PhaseBudgets:
        return PhaseBudgets(
            connect=self.connect, setup=self.setup, first_response=self.first_response, turn=self.turn
        )


class LimitSettings(_Section):
    """Hard bounds on what one turn keeps of a server's input (docs/probe.md, "Limits")."""

    audio_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    messages_kept: int = Field(default=100, ge=1, le=100_000)
    frame_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    json_depth: int = Field(default=64, ge=8, le=500)  # deeper than Python may recurse is refused here
    integer_digits: int = Field(default=18, ge=1, le=18)  # more would not fit a 64-bit counter or column
    record_bytes: int = Field(default=64 * 1024, ge=4096)
    close: PositiveDuration = 2.0

    def limits(self) -> ProbeLimits:
        return ProbeLimits(
            audio_bytes=self.audio_bytes, messages_kept=self.messages_kept, frame_bytes=self.frame_bytes,
            json_depth=self.json_depth, integer_digits=self.integer_digits, record_bytes=self.record_bytes,
            close_seconds=self.close,
        )  # fmt: skip


class ProbeSettings(_Section):
    """Which probe turns run, how often, and within which budgets."""

    kinds: list[ProbeKind] = Field(default_factory=lambda: [ProbeKind.TEXT, ProbeKind.AUDIO], min_length=1)
    interval: PositiveDuration = 60.0
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    pace_audio: bool = True
    recover: bool = True

    @model_validator(mode="after")
    def _timeouts_fit_interval(self) -> ProbeSettings:
        # cloudprober's rule: a probe must be able to finish before its next run is due.
        t = self.timeouts
        total = t.connect + t.setup + t.turn
        if total > self.interval:
            raise ValueError(
                f".timeouts: connect {t.connect:g} s + setup {t.setup:g} s + turn {t.turn:g} s = {total:g} s "
                f"exceed probes.interval {self.interval:g} s (a probe must finish before its next run is due)"
            )
        return self


class ModelSettings(_Section):
    """One model to probe. `alias: true` marks a moving alias such as `-latest`; false a pinned version."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    family: str = ""
    alias: bool = False
    endpoint: str = ""  # empty: the first endpoint
    text_path: TextPath = TextPath.CLIENT_CONTENT
    setup: Path | None = None  # a JSON file: the inner object of {"setup": ...}
    probes: list[ProbeKind] | None = None  # None: probes.kinds
    _setup_payload: Mapping[str, Any] | None = PrivateAttr(default=None)

    @field_validator("setup")
    @classmethod
    def _check_setup(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        # Loaded and validated now, so a broken payload stops the start, not the first probe.
        if path is not None:
            read_setup(path, str(info.data.get("id", "")))
        return path

    @model_validator(mode="after")
    def _load_setup(self) -> ModelSettings:
        if not self.family:
            self.family = self.id
        if self.setup is not None:
            self._setup_payload = read_setup(self.setup, self.id)
        return self

    @property
    def setup_payload(self) -> Mapping[str, Any] | None:
        return self._setup_payload


class BudgetSettings(_Section):
    """Quota guards per API key (one key per endpoint) and a cap on concurrent sessions per endpoint."""

    sessions_per_minute: int = Field(default=30, ge=1)
    sessions_per_day: int = Field(default=20_000, ge=1)
    max_concurrent_sessions: int = Field(default=4, ge=1)


class RetentionSettings(_Section):
    success_days: float = Field(default=30.0, gt=0)
    failure_days: float = Field(default=365.0, gt=0)


class StoreSettings(_Section):
    path: Path = Path("data/live-monitor.sqlite3")
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _failures_outlive_successes(self) -> StoreSettings:
        r = self.retention
        if r.failure_days < r.success_days:
            raise ValueError(
                f".retention: failure_days {r.failure_days:g} is shorter than success_days "
                f"{r.success_days:g} (failures are the evidence; keep them at least as long)"
            )
        return self


class DemoSettings(_Section):
    """Used only by `run --demo`: the in-process emulator's seed-replay scenario."""

    onset: Duration = 180.0  # seconds after start when the regression begins
    latency_scale: float = Field(default=1.0, gt=0)
    seed: int | None = None
    # An emulator already running elsewhere (the compose stack's `emulator` service, which several monitors
    # share); unset, `run --demo` starts its own in-process. Its onset is then that emulator's `--onset`.
    emulator_url: str | None = Field(default=None, pattern=r"^wss?://[^/\s]+/\S*$")


class MonitorSettings(BaseSettings):
    """The whole configuration, validated; build probe targets with `targets()`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    vantage: str = Field(default="local", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    listen: str = "0.0.0.0:9478"
    endpoints: list[EndpointSettings] = Field(
        default_factory=lambda: [EndpointSettings(name="gemini-api")], min_length=1
    )
    models: list[ModelSettings] = Field(min_length=1)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        parse_listen(listen)
        return listen

    @model_validator(mode="after")
    def _cross_checks(self) -> MonitorSettings:
        problems = _reference_problems(self)
        if not problems:
            problems = capacity_problems(self) or quota_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    def missing_keys(self) -> list[str]:
        """Endpoints without a key, as problems: fatal for `run` against the real API, not for `--demo`."""
        return [
            f"endpoints[{i}]: no API key for {e.name!r}: set ${e.api_key_env} or api_key_file "
            "(or run with --demo)"
            for i, e in enumerate(self.endpoints)
            if not e.api_key.get_secret_value()
        ]

    def endpoint_of(self, model: ModelSettings) -> EndpointSettings:
        name = model.endpoint or self.endpoints[0].name
        return next(e for e in self.endpoints if e.name == name)

    def kinds_of(self, model: ModelSettings) -> list[ProbeKind]:
        return list(model.probes if model.probes is not None else self.probes.kinds)

    def targets(
        self, *, url: str | None = None, api_key: SecretStr | None = None
    ) -> list[tuple[ProbeTarget, ProbeKind]]:
        """One (target, probe kind) per scheduled job; `url` and `api_key` repoint every model (demo mode)."""
        plan: list[tuple[ProbeTarget, ProbeKind]] = []
        for model in self.models:
            endpoint = self.endpoint_of(model)
            target = ProbeTarget(
                endpoint=endpoint.name,
                url=url or endpoint.url,
                model=model.id,
                api_key=api_key or endpoint.api_key,
                auth=endpoint.auth,
                text_path=model.text_path,
                setup=model.setup_payload,
                vantage=self.vantage,
                budgets=self.probes.timeouts.budgets(),
                pace_audio=self.probes.pace_audio,
                recover=self.probes.recover,
                limits=self.probes.limits.limits(),
            )
            plan.extend((target, kind) for kind in self.kinds_of(model))
        return plan


def _reference_problems(settings: MonitorSettings) -> list[str]:
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
    return "\n".join(lines)


def load_settings(path: str | None, *, demo: bool = False) -> MonitorSettings:
    """Read, merge and validate the configuration; ConfigError lists every problem.

    With `demo`, a missing default file falls back to the built-in demo configuration (the same as the
    shipped `config/monitor.yaml`), so `live-monitor run --demo` works from anywhere.
    """
    config_path, named = resolve_config_path(path)
    if config_path.is_file():
        data = read_yaml(config_path)
        base_dir = config_path.parent
    elif demo and not named:
        from monitor.config.demo import DEMO_CONFIG_YAML  # noqa: PLC0415 - only demo runs need it

        data = yaml.safe_load(DEMO_CONFIG_YAML)
        base_dir = Path.cwd()
    else:
        raise ConfigError([f"{config_path}: file not found"])
    env = EnvSettingsSource(MonitorSettings)()
    merged = deep_merge(relative_to(data, base_dir), env)
    try:
        return MonitorSettings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(problems_of(error)) from None
