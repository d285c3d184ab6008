"""The daemon's configuration: a YAML file plus `LIVE_MONITOR_*` environment overrides, validated at start.

This module (with `monitor.config.sources`, which finds and reads the files) is the only reader of
configuration files and of the environment (including `GEMINI_API_KEY` and key files). Everything else
receives validated values: `ProbeTarget`s, budgets, paths.

Precedence, lowest first: model defaults < the YAML file < `LIVE_MONITOR_<SECTION>__<KEY>` variables. The file
is `-c FILE`, else `$LIVE_MONITOR_CONFIG`, else `config/monitor.yaml`. Unknown keys are errors, and every
problem is reported at once as `<path>: <rule>` in one `ConfigError`, like blackbox_exporter's strict loader.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.config.checks import capacity_problems, describe, quota_problems, reference_problems
from monitor.config.credentials import EndpointAccess, TokenSettings, ephemeral_source, resolve_access
from monitor.config.sources import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    deep_merge,
    env_hint,
    load_yaml_text,
    read_environment,
    read_setup,
    read_small_file,
    read_yaml,
    relative_to,
    resolve_config_path,
)
from monitor.config.storage import store_problems
from monitor.config.syntax import (
    ConfigError,
    Duration,
    PositiveDuration,
    parse_duration,
    parse_listen,
    problems_of,
)
from monitor.live.messages import model_resource
from monitor.probe.credentials import CredentialSource
from monitor.probe.oauth import DEFAULT_REFRESH_TIMEOUT_SECONDS, GoogleAccessTokens
from monitor.probe.outcome import ProbeKind
from monitor.probe.target import AuthKind, PhaseBudgets, ProbeLimits, ProbeTarget, TextPath
from monitor.text import credential_parameters, header_value_problem, redact_url

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

# A monitor probing less than daily sees no incident; longer intervals are typos (`3650000d`).
MAX_INTERVAL_SECONDS = 86400.0
GEMINI_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointSettings(_Section):
    """One Live API endpoint and its credentials (config/credentials.py); the key never leaves a SecretStr."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = GEMINI_URL
    auth: AuthKind = AuthKind.HEADER
    api_key_env: str = "GEMINI_API_KEY"
    api_key_file: Path | None = None
    # auth: bearer (Google credentials; Vertex AI needs project and location, the URL's host may name it)
    credentials_file: Path | None = None
    project: str | None = Field(default=None, min_length=1)
    location: str | None = Field(default=None, min_length=1)
    quota_project: str | None = Field(default=None, min_length=1)
    token: TokenSettings | None = None  # auth: token (defaults when unset)
    _api_key: SecretStr = PrivateAttr(default_factory=lambda: SecretStr(""))
    _access: EndpointAccess = PrivateAttr(default_factory=EndpointAccess)
    _google_tokens: GoogleAccessTokens | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _websocket_url(cls, url: str) -> str:
        # The URL is shown in banners, logs and reports: a credential in it would leak, so none may be there.
        if not re.match(r"^wss?://[^/\s]+", url):
            raise ValueError(f"must be a ws:// or wss:// URL (got {redact_url(url)!r})")
        if "@" in url.split("/", 3)[2]:
            raise ValueError(
                "must not carry credentials (user:password@host): the key goes in api_key_env or api_key_file"
            )
        found = credential_parameters(url)
        if found:
            named = ", ".join(f"{name}=" for name in found)
            raise ValueError(
                f"must not carry credentials in its query ({named}): the key goes in api_key_env or "
                "api_key_file, and auth: query sends it as ?key= on the wire only"
            )
        return url

    @field_validator("project", "location", "quota_project")
    @classmethod
    def _one_word(cls, value: str | None) -> str | None:
        # Sent in the URL and in the x-goog-user-project header, where a space or CR/LF breaks the request.
        if value is not None and not re.fullmatch(r"[^\s\x00-\x1f\x7f]+", value):
            raise ValueError("must be one word: no space, line break or control character")
        return value

    @field_validator("api_key_file")
    @classmethod
    def _readable_key_file(cls, path: Path | None) -> Path | None:
        if path is not None:
            read_small_file(path)
        return path

    @model_validator(mode="after")
    def _resolve_key(self) -> EndpointSettings:
        # Docker's convention ($POSTGRES_PASSWORD_FILE): $GEMINI_API_KEY_FILE names a secret file, so a
        # container takes its key from /run/secrets without a config file of its own.
        env_file = os.environ.get(f"{self.api_key_env}_FILE", "").strip()
        if self.api_key_file is not None:
            key, source = read_small_file(self.api_key_file).strip(), f"api_key_file {self.api_key_file}"
        elif env_file:
            try:
                key, source = read_small_file(Path(env_file)).strip(), f"${self.api_key_env}_FILE {env_file}"
            except ValueError as error:
                raise ValueError(f"${self.api_key_env}_FILE: {error}") from None
        else:
            key, source = os.environ.get(self.api_key_env, "").strip(), f"${self.api_key_env}"
        problem = header_value_problem(key, f"the API key from {source}")
        if problem is not None:  # else every probe would fail in aiohttp, counted as the provider's failure
            raise ValueError(problem)
        self._api_key = SecretStr(key)
        return self

    @model_validator(mode="after")
    def _resolve_access(self) -> EndpointSettings:
        self._access = resolve_access(
            url=self.url, auth=self.auth, project=self.project, location=self.location,
            credentials_file=self.credentials_file, quota_project=self.quota_project, token=self.token,
        )  # fmt: skip
        if self._access.google is not None:  # one per endpoint: every job shares its token and refresh
            self._google_tokens = GoogleAccessTokens(
                self._access.google.credentials, quota_project=self._access.quota_project
            )
        return self

    @property
    def api_key(self) -> SecretStr:
        return self._api_key

    @property
    def access(self) -> EndpointAccess:
        return self._access

    @property
    def credentials_seconds(self) -> float:
        """How long a session may wait for its credential: the mint's or the OAuth refresh's deadline."""
        if self.auth is AuthKind.TOKEN:
            return (self.token or TokenSettings()).timeout
        return DEFAULT_REFRESH_TIMEOUT_SECONDS if self.auth is AuthKind.BEARER else 0.0

    def credential_source(self, model: str, setup: Mapping[str, Any] | None) -> CredentialSource | None:
        """Where the sessions of `model` on this endpoint get their credential; None: the API key as it is."""
        if self.auth is AuthKind.BEARER:
            return self._google_tokens
        if self.auth is AuthKind.TOKEN:
            resource = model_resource(model, self.url)
            return ephemeral_source(self.token or TokenSettings(), self.url, self.api_key, resource, setup)
        return None


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


def _interval(value: object) -> float:
    seconds = parse_duration(value, maximum=math.inf)
    if seconds <= 0:
        raise ValueError(f"must be a duration > 0 like 60, '60s' or '2m' (got {value!r})")
    if seconds > MAX_INTERVAL_SECONDS:
        raise ValueError(
            f"must be at most 1d ({MAX_INTERVAL_SECONDS:g} s): a monitor probing less often sees no "
            f"incident (got {value!r})"
        )
    return seconds


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
    interval: Annotated[float, BeforeValidator(_interval)] = 60.0
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
    # The failure rate this model has when healthy: the timeline's prior when it knows nothing earlier, and
    # the daemon's reference for the live failure-onset gauge (docs/timeline.md).
    expected_failure_rate: float = Field(default=0.01, ge=0, lt=0.5)
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
    success_days: float = Field(default=30.0, gt=0, le=36500)
    failure_days: float = Field(default=365.0, gt=0, le=36500)


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
    # Which LIVE_MONITOR_* variable set which key (by load_settings), to name it in later problems.
    _variables: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        parse_listen(listen)
        return listen

    @model_validator(mode="after")
    def _cross_checks(self) -> MonitorSettings:
        problems = reference_problems(self)
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
            if not e.api_key.get_secret_value() and e.auth is not AuthKind.BEARER
        ]

    def store_problems(self) -> list[str]:
        """Whether the daemon could open its store here: fatal for `run` and `check-config`, not `report`."""
        variable = self._variables.get(("store", "path"))
        return [f"{variable}: {p}" if variable else p for p in store_problems(self.store.path)]

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
            demo = url is not None or api_key is not None  # the emulator's key, sent as an API key
            target = ProbeTarget(
                endpoint=endpoint.name,
                url=url or endpoint.url,
                model=model.id,
                api_key=api_key or endpoint.api_key,
                auth=AuthKind.HEADER if demo else endpoint.auth,
                credentials=None if demo else endpoint.credential_source(model.id, model.setup_payload),
                model_prefix="" if demo else endpoint.access.model_prefix,
                text_path=model.text_path,
                setup=model.setup_payload,
                vantage=self.vantage,
                budgets=replace(
                    self.probes.timeouts.budgets(), credentials=0.0 if demo else endpoint.credentials_seconds
                ),
                pace_audio=self.probes.pace_audio,
                recover=self.probes.recover,
                limits=self.probes.limits.limits(),
            )
            plan.extend((target, kind) for kind in self.kinds_of(model))
        return plan


def load_settings(path: str | None, *, demo: bool = False) -> MonitorSettings:
    """Read, merge and validate the configuration; ConfigError lists every problem.

    With `demo`, a missing default file falls back to the built-in demo configuration (the same as the
    shipped `config/monitor.yaml`), so `live-monitor run --demo` works from anywhere.
    """
    config_path, named = resolve_config_path(path)
    if config_path.exists():
        data = read_yaml(config_path)
        base_dir = config_path.parent
    elif demo and not named:
        from monitor.config.demo import DEMO_CONFIG_YAML  # noqa: PLC0415 - only demo runs need it

        data = load_yaml_text(DEMO_CONFIG_YAML)
        base_dir = Path.cwd()
    else:
        raise ConfigError([f"{config_path}: file not found"])
    env = read_environment(os.environ, MonitorSettings)
    if env.problems:
        raise ConfigError(env.problems)
    merged = deep_merge(relative_to(data, base_dir), env.values)
    try:
        # Validated as plain data: the environment was read above, with its variables remembered.
        settings = MonitorSettings.model_validate(merged)
    except ValidationError as error:
        problems = problems_of(
            error,
            MonitorSettings,
            variable_of=env.variable_of,
            hint=lambda variable: env_hint(env.path_of(variable), MonitorSettings),
        )
        raise ConfigError(problems) from None
    settings._variables = dict(env.origins)
    return settings
