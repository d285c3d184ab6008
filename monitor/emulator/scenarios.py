"""Scenario files: pydantic models, validation and lookup by name or path.

A scenario is data (YAML): per-model capability overrides, the faults to inject (what, where, for which
models, with what probability in which time windows) and `expect`, the outcome a probe must record against
it. Unknown keys are errors. See docs/emulator.md for the format.

Lookup by name: `config/scenarios/<name>.yaml` of the source tree (works from `pip install -e .`), then the
copy packaged as `monitor/emulator/data/scenarios/` (a symlink to `config/scenarios` in the repository,
resolved into real files when a wheel is built).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from monitor.emulator.models import MODELS
from monitor.emulator.reasons import REASONS
from monitor.probe.outcome import Cause, Outcome, Phase, ProbeKind
from monitor.problems import problem_lines

__all__ = [
    "CapabilityOverride",
    "Expectation",
    "Fault",
    "FaultKind",
    "LatencyOverride",
    "Location",
    "Scenario",
    "ScenarioError",
    "Window",
    "load_scenario",
    "scenario_names",
]

_REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be found or is invalid; the message names the file and the field."""


class FaultKind(StrEnum):
    CLOSE = "close"
    HTTP_STATUS = "http_status"
    HANG = "hang"
    TCP_DROP = "tcp_drop"
    MALFORMED_FRAME = "malformed_frame"
    EMPTY_TURN = "empty_turn"
    SILENT_AUDIO = "silent_audio"
    SLOW_PONG = "slow_pong"
    GOAWAY = "goaway"
    DELAY = "delay"  # the token service or the OAuth endpoint answers, but only after delay_ms


class Location(StrEnum):
    """Where a fault strikes, in the order a session reaches them."""

    UPGRADE = "upgrade"
    BEFORE_SETUP_COMPLETE = "before_setup_complete"
    AFTER_SETUP_COMPLETE = "after_setup_complete"
    AFTER_RESUMPTION_UPDATE = (
        "after_resumption_update"  # the empty update right after the turn (incident 000)
    )
    MID_STREAM = "mid_stream"  # after `after_chunks` audio chunks
    AFTER_TOOL_RESPONSE = "after_tool_response"
    RESPONSE = "response"  # the reply itself (empty turn, silent audio)
    CONNECTION = "connection"  # the whole connection (slow pongs)
    # The credential services beside the Live API (docs/emulator.md, "Credentials"):
    TOKEN_SERVICE = "token_service"  # noqa: S105 - a place, not a secret; POST /v1alpha/auth_tokens
    OAUTH_TOKEN = "oauth_token"  # noqa: S105 - a place, not a secret; POST /token, the OAuth token endpoint


_SESSION_POINTS = frozenset(
    {
        Location.BEFORE_SETUP_COMPLETE,
        Location.AFTER_SETUP_COMPLETE,
        Location.AFTER_RESUMPTION_UPDATE,
        Location.MID_STREAM,
        Location.AFTER_TOOL_RESPONSE,
    }
)
_CREDENTIAL_SERVICES = frozenset({Location.TOKEN_SERVICE, Location.OAUTH_TOKEN})
# Faults drawn per HTTP request, before any model is known.
REQUEST_LOCATIONS = _CREDENTIAL_SERVICES | {Location.UPGRADE}
ALLOWED_LOCATIONS: dict[FaultKind, frozenset[Location]] = {
    FaultKind.CLOSE: _SESSION_POINTS,
    FaultKind.HTTP_STATUS: frozenset({Location.UPGRADE}) | _CREDENTIAL_SERVICES,
    FaultKind.HANG: _SESSION_POINTS | {Location.UPGRADE} | _CREDENTIAL_SERVICES,
    FaultKind.DELAY: _CREDENTIAL_SERVICES,
    FaultKind.TCP_DROP: _SESSION_POINTS | {Location.UPGRADE},
    FaultKind.MALFORMED_FRAME: _SESSION_POINTS,
    FaultKind.EMPTY_TURN: frozenset({Location.RESPONSE}),
    FaultKind.SILENT_AUDIO: frozenset({Location.RESPONSE}),
    FaultKind.SLOW_PONG: frozenset({Location.CONNECTION}),
    FaultKind.GOAWAY: _SESSION_POINTS - {Location.BEFORE_SETUP_COMPLETE},
}
_DEFAULT_LOCATION = {
    FaultKind.HTTP_STATUS: Location.UPGRADE,
    FaultKind.EMPTY_TURN: Location.RESPONSE,
    FaultKind.SILENT_AUDIO: Location.RESPONSE,
    FaultKind.SLOW_PONG: Location.CONNECTION,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_edge(value: object) -> object:
    """Seconds after start (>= 0), "onset", or an ISO 8601 time with an offset; one clear error otherwise."""
    if value == "onset":
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        with suppress(ValueError):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment is not None:
        if moment.tzinfo is None:
            raise ValueError(f"the time {value!s} needs a UTC offset, e.g. 2026-05-27T18:00:00Z")
        return moment
    raise ValueError(
        f"a window edge is seconds after start (>= 0), 'onset', or an ISO 8601 UTC time, not {value!r}"
    )


WindowEdge = Annotated[float | str | datetime, BeforeValidator(_parse_edge)]


class Window(_Strict):
    """A window in which a fault is active; edges: seconds after start, "onset", or an aware UTC time."""

    start: WindowEdge = 0.0
    end: WindowEdge | None = None
    probability: float = Field(default=1.0, ge=0.0, le=1.0)

    def contains(self, elapsed: float, now: datetime, onset: float) -> bool:
        return _reached(self.start, elapsed, now, onset) and (
            self.end is None or not _reached(self.end, elapsed, now, onset)
        )


def _reached(edge: float | str | datetime, elapsed: float, now: datetime, onset: float) -> bool:
    if isinstance(edge, datetime):
        return now >= edge
    return elapsed >= (onset if edge == "onset" else float(edge))


class Fault(_Strict):
    kind: FaultKind
    at: Location | None = None
    after_chunks: int = Field(default=3, ge=0)  # mid_stream: audio chunks sent before striking
    code: int | None = Field(default=None, ge=1000, le=4999)  # close
    reason: str = ""  # close: a catalogue name (reasons.REASONS) or the text itself
    delay_ms: tuple[float, float] = (0.0, 0.0)  # waited before striking, drawn uniformly
    status: int | None = Field(default=None, ge=400, le=599)  # http_status
    body: str | None = None  # http_status; default: the Google JSON error for the status
    pong_delay_ms: float = Field(default=0.0, ge=0)  # slow_pong
    time_left_s: float = Field(default=50.0, gt=0)  # goaway
    handle_before: bool = False  # send a resumable sessionResumptionUpdate just before striking
    models: list[str] = Field(default_factory=list)  # empty: every model
    sessions: Literal["any", "fresh", "resumed"] = "any"
    probability: float = Field(default=1.0, ge=0.0, le=1.0)  # used when `windows` is empty
    windows: list[Window] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Fault:
        location = self.location
        if location not in ALLOWED_LOCATIONS[self.kind]:
            allowed = ", ".join(sorted(ALLOWED_LOCATIONS[self.kind]))
            raise ValueError(f"kind {self.kind} cannot strike at {location} (allowed: {allowed})")
        if self.kind is FaultKind.CLOSE and self.code is None:
            raise ValueError("a close fault needs `code`")
        if self.kind is FaultKind.HTTP_STATUS and self.status is None:
            raise ValueError("an http_status fault needs `status`")
        if location in REQUEST_LOCATIONS and (self.models or self.sessions != "any"):
            where = location.value.replace("_", " ")
            problem = f"a fault at the {where} cannot select models or sessions"
            raise ValueError(f"{problem}: both are known only from setup")
        if self.kind is FaultKind.DELAY and self.delay_ms[1] <= 0:
            raise ValueError("a delay fault needs delay_ms above 0")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r} (known: {', '.join(sorted(MODELS))})")
        if self.delay_ms[0] > self.delay_ms[1] or self.delay_ms[0] < 0:
            raise ValueError("delay_ms must be [low, high] with 0 <= low <= high")
        return self

    @property
    def location(self) -> Location:
        if self.at is not None:
            return self.at
        return _DEFAULT_LOCATION.get(self.kind, Location.AFTER_RESUMPTION_UPDATE)

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, self.reason)

    def probability_at(self, elapsed: float, now: datetime, onset: float) -> float:
        if not self.windows:
            return self.probability
        for window in self.windows:
            if window.contains(elapsed, now, onset):
                return window.probability
        return 0.0


class LatencyOverride(_Strict):
    """Milliseconds [low, high]; e.g. `first_response: [250, 250]` holds the first chunk exactly 250 ms."""

    setup_complete: tuple[float, float] | None = None
    first_response: tuple[float, float] | None = None
    chunk_gap: tuple[float, float] | None = None
    tool_call: tuple[float, float] | None = None


class CapabilityOverride(_Strict):
    retired: bool = False  # the model is no longer served: setup gets the 1008 "not found" close
    latency: LatencyOverride | None = None
    client_content: bool | None = None
    function_calling: bool | None = None
    text_modality: bool | None = None
    voice_activity: bool | None = None
    thinking_config: bool | None = None
    proactive_audio_always: bool | None = None
    affective_dialog: bool | None = None
    default_function_behavior: Literal["BLOCKING", "NON_BLOCKING"] | None = None


class Expectation(_Strict):
    """What a probe must record against this scenario (checked by tests/integration/test_scenarios.py)."""

    model: str
    probe: ProbeKind = ProbeKind.TEXT
    text_path: Literal["client_content", "realtime_input"] | None = None  # None: what the model accepts
    api: Literal["gemini", "vertex"] = "gemini"
    # "token": each session mints an ephemeral token with api_key and opens ...Constrained (v1alpha).
    auth: Literal["header", "token"] = "header"
    api_key: str = "emulator-key"
    onset_seconds: float | None = None  # run the emulator with this onset instead of the scenario's
    outcome: Outcome
    cause: Cause = Cause.NONE
    code: int | None = None
    phase: Phase = Phase.NONE
    messages: list[str] = Field(default_factory=list)  # expected prefix of the recorded message kinds
    recovery: Literal["fresh", "resumed"] | None = None
    recovery_outcome: Literal["ok", "failed"] | None = None


class Scenario(_Strict):
    name: str
    description: str = ""
    onset_seconds: float = Field(default=300.0, ge=0)  # when "onset" windows begin, after emulator start
    frames: Literal["binary", "text"] = "binary"
    connection_limit_seconds: float = Field(default=600.0, gt=0)
    goaway_time_left_seconds: float = Field(default=50.0, gt=0)
    # API keys accepted (None: any non-empty key). Listed tokens are also taken as they are, besides the
    # Vertex access tokens and ephemeral tokens this emulator issued.
    accepted_keys: list[str] | None = None
    # What expires_in the OAuth token endpoint grants: real Google tokens live an hour.
    access_token_lifetime_seconds: float = Field(default=3600.0, gt=0)
    models: dict[str, CapabilityOverride] = Field(default_factory=dict)
    faults: list[Fault] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_models(self) -> Scenario:
        for model in [*self.models, *(e.model for e in self.expect)]:
            if model not in MODELS:
                raise ValueError(f"unknown model {model!r} (known: {', '.join(sorted(MODELS))})")
        return self


def scenario_names() -> list[str]:
    """Every scenario findable by name."""
    return sorted({path.stem for directory in _scenario_dirs() for path in directory.glob("*.yaml")})


def load_scenario(name_or_path: str) -> Scenario:
    """A scenario by NAME (see module docstring) or by file path; raises ScenarioError."""
    path = _resolve(name_or_path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ScenarioError(f"{path}: cannot read scenario: {error}") from None
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario must be a mapping of fields")
    document.setdefault("name", path.stem)
    try:
        return Scenario.model_validate(document)
    except ValidationError as error:
        raise ScenarioError(_format_errors(path, error)) from None


def _scenario_dirs() -> list[Path]:
    packaged = Path(str(resources.files("monitor.emulator").joinpath("data/scenarios")))
    return [d for d in (_REPO_SCENARIOS, packaged) if d.is_dir()]


def _resolve(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.parent != Path():
        if not candidate.is_file():
            raise ScenarioError(f"{candidate}: no such scenario file")
        return candidate
    for directory in _scenario_dirs():
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    known = ", ".join(scenario_names())
    raise ScenarioError(f"no scenario named {name_or_path!r} (known: {known})")


def _format_errors(path: Path, error: ValidationError) -> str:
    # Worded as check-config words configuration problems (monitor.problems): one vocabulary for both files.
    return "\n".join(
        f"{path}: {problem.path or '(top level)'}: {problem.rule}"
        for problem in problem_lines(error, Scenario)
    )
