"""Where an endpoint's credentials come from: Google credentials for Vertex AI, ephemeral-token settings.

`auth: bearer` takes google-auth credentials, in the order Application Default Credentials look for them:
the endpoint's `credentials_file`, else `$GOOGLE_APPLICATION_CREDENTIALS` (a path, so a Docker or Kubernetes
secret mounted as a file works as it is), else gcloud's ADC file (`gcloud auth application-default login`),
else the metadata server's service account (Compute Engine, GKE, Cloud Run). A named file is read and checked
now, so `check-config` reports a missing, unreadable or wrong kind of key file; the metadata server is only
asked when the first probe needs a token (no network at validation). The Vertex AI project comes from the
endpoint, else the key file, else `$GOOGLE_CLOUD_PROJECT`; the quota project (`x-goog-user-project`) from the
endpoint, else the credentials (`quota_project_id`), else `$GOOGLE_CLOUD_QUOTA_PROJECT`.

`auth: token` takes `TokenSettings`: how each probe session's ephemeral token is minted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from google.auth import _cloud_sdk, compute_engine
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from monitor.config.sources import read_setup, read_small_file
from monitor.config.syntax import PositiveDuration
from monitor.live.messages import setup_message
from monitor.probe.ephemeral import EphemeralTokens, TokenOptions, token_service_url
from monitor.probe.target import AuthKind
from monitor.text import header_value_problem

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "EndpointAccess",
    "GoogleCredentialsInfo",
    "TokenSettings",
    "ephemeral_source",
    "load_google_credentials",
    "resolve_access",
    "vertex_location",
]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
_KEY_TYPES = ("service_account", "authorized_user")
_REQUIRED = {
    "service_account": ("client_email", "private_key", "token_uri"),
    "authorized_user": ("client_id", "client_secret", "refresh_token"),
}
_REGIONAL_HOST = re.compile(r"^(?P<location>[a-z]+-[a-z]+[0-9]+)-aiplatform\.googleapis\.com$")


class TokenSettings(BaseModel):
    """How an `auth: token` endpoint mints each session's ephemeral token (v1alpha auth_tokens)."""

    model_config = ConfigDict(extra="forbid")

    service_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+/\S*$")  # None: beside `url`
    uses: int = Field(default=1, ge=1)
    expire: PositiveDuration = 300.0  # expireTime, from the mint
    new_session_expire: PositiveDuration = 60.0  # newSessionExpireTime, from the mint
    timeout: PositiveDuration = 10.0
    # "session": lock the model's own setup into the token; a path: lock that JSON setup (probe a backend
    # that locks one configuration while the app sends another); unset: nothing locked.
    locked_setup: Literal["session"] | Path | None = None
    _locked_payload: Mapping[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _new_session_within_expiry(self) -> TokenSettings:
        if isinstance(self.locked_setup, Path):
            try:  # read now, so a broken file stops the start, not the first probe
                self._locked_payload = read_setup(self.locked_setup, "")
            except ValueError as error:
                raise ValueError(f".locked_setup: {error}") from None
        if self.new_session_expire > self.expire:
            raise ValueError(
                f".new_session_expire: {self.new_session_expire:g} s is after expire {self.expire:g} s "
                "(the service refuses a token whose sessions may start after it expires)"
            )
        return self


@dataclass(frozen=True, slots=True)
class GoogleCredentialsInfo:
    """Loaded credentials and what they say about the project. `source` is for people (never a secret)."""

    credentials: Credentials
    source: str
    project: str | None
    quota_project: str | None
    metadata_server: bool = False


def load_google_credentials(credentials_file: Path | None) -> GoogleCredentialsInfo:
    """The endpoint's Google credentials; ValueError with the exact problem (file, kind, fields)."""
    named = credentials_file
    variable = ""
    if named is None and (from_env := os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()):
        named, variable = Path(from_env), "$GOOGLE_APPLICATION_CREDENTIALS: "
    if named is None:
        # google-auth's own rule for gcloud's ADC file ($CLOUDSDK_CONFIG, else the per-user config dir).
        gcloud = Path(_cloud_sdk.get_application_default_credentials_path())  # type: ignore[no-untyped-call]
        if gcloud.is_file():
            return _from_file(gcloud, "", "gcloud application-default credentials")
        return GoogleCredentialsInfo(
            credentials=compute_engine.Credentials(scopes=[CLOUD_PLATFORM_SCOPE]),  # type: ignore[no-untyped-call]
            source="the metadata server (no credentials_file, $GOOGLE_APPLICATION_CREDENTIALS or gcloud ADC)",
            project=None,
            quota_project=None,
            metadata_server=True,
        )
    return _from_file(named, variable, f"key file {str(named)!r}")


def _from_file(path: Path, variable: str, source: str) -> GoogleCredentialsInfo:
    where = f"{variable}{str(path)!r}"
    try:
        text = read_small_file(path)  # a regular file of at most 1 MiB: a FIFO or /dev/zero never ends
    except ValueError as error:
        raise ValueError(f"{variable}{error}") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{where} is not a JSON key file ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{where} is not a JSON key file (nested too deeply)") from None
    if not isinstance(info, dict):
        raise ValueError(f"{where} is not a JSON key file (expected an object)")
    kind = info.get("type")
    if kind not in _KEY_TYPES:
        raise ValueError(
            f"{where} is a {kind!r} credentials file; Vertex AI probes take a 'service_account' key "
            "or an 'authorized_user' file (gcloud auth application-default login)"
        )
    missing = [name for name in _REQUIRED[kind] if not str(info.get(name) or "").strip()]
    if missing:
        raise ValueError(f"{where}: the {kind} file lacks {', '.join(missing)}")
    credentials = _build(kind, info, where)
    project = str(info.get("project_id") or "") or None
    quota = str(info.get("quota_project_id") or "") or None
    return GoogleCredentialsInfo(credentials=credentials, source=source, project=project, quota_project=quota)


def _build(kind: str, info: dict[str, Any], where: str) -> Credentials:
    try:
        if kind == "service_account":
            built: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM_SCOPE]
            )
        else:
            # The constructor, not from_authorized_user_info, which forces Google's token_uri: a file naming
            # another endpoint (the emulator's, for rehearsals) refreshes there, as the file says.
            built = user_credentials.Credentials(  # type: ignore[no-untyped-call]
                token=None,
                refresh_token=info["refresh_token"],
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                token_uri=info.get("token_uri") or GOOGLE_TOKEN_URI,
                quota_project_id=info.get("quota_project_id"),
                scopes=[CLOUD_PLATFORM_SCOPE],
            )
    except (ValueError, TypeError):
        # google-auth's message may quote the key material: say only which part is wrong.
        part = "private_key" if kind == "service_account" else "fields"
        raise ValueError(f"{where}: the {kind} file's {part} cannot be used") from None
    return built


def vertex_location(url: str) -> str | None:
    """The Vertex AI location a Live URL's host names (`us-central1-aiplatform...`, `global`), else None."""
    found = re.match(r"^wss?://([^/:?#]+)", url)
    host = found.group(1) if found else ""
    if host == "aiplatform.googleapis.com":
        return "global"
    if multi := re.match(r"^aiplatform\.(us|eu)\.rep\.googleapis\.com$", host):
        return multi.group(1)
    regional = _REGIONAL_HOST.match(host)
    return regional.group("location") if regional else None


@dataclass(frozen=True, slots=True)
class EndpointAccess:
    """What an endpoint's sessions authenticate with, resolved at validation."""

    google: GoogleCredentialsInfo | None = None  # auth: bearer
    project: str | None = None
    location: str | None = None
    quota_project: str | None = None
    model_prefix: str = ""  # Vertex AI: prepended to the model id in setup.model


def resolve_access(
    *,
    url: str,
    auth: AuthKind,
    project: str | None,
    location: str | None,
    credentials_file: Path | None,
    quota_project: str | None,
    token: TokenSettings | None,
) -> EndpointAccess:
    """Check the endpoint's credential settings and load its Google credentials; ValueError lists problems
    as `.field: rule` lines."""
    vertex = "LlmBidiService" in url
    problems: list[str] = []
    if auth is AuthKind.TOKEN and vertex:
        problems.append(
            ".auth: ephemeral tokens are served by the Gemini API (BidiGenerateContentConstrained), "
            "not by Vertex AI"
        )
    if auth is AuthKind.TOKEN and not vertex and ".v1alpha." not in url:
        problems.append(
            ".url: ephemeral tokens are served by v1alpha only "
            "(.../google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained)"
        )
    if token is not None and auth is not AuthKind.TOKEN:
        problems.append(".token: only for auth: token")
    if credentials_file is not None and auth is not AuthKind.BEARER:
        problems.append(".credentials_file: only for auth: bearer (Google credentials)")
    google = None
    if auth is AuthKind.BEARER and not problems:
        try:
            google = load_google_credentials(credentials_file)
        except ValueError as error:
            field = ".credentials_file: " if credentials_file is not None else ""
            problems.append(f"{field}{error}")
    if problems:
        raise ValueError("\n".join(problems))
    access = EndpointAccess(google=google, quota_project=_quota_project(quota_project, google))
    if not vertex:
        return access
    where = location or vertex_location(url)
    if where is None:
        problems.append(".location: Vertex AI needs a location: set location (the URL's host names none)")
    if auth is not AuthKind.BEARER:  # express mode: an API key, no project in the resource name
        prefix = "publishers/google/models/"
    else:
        project = project or (google.project if google else None) or _env("GOOGLE_CLOUD_PROJECT")
        if project is None:
            problems.append(".project: Vertex AI needs a project: set project (the credentials name none)")
        prefix = f"projects/{project}/locations/{where}/publishers/google/models/"
    if problems:
        raise ValueError("\n".join(problems))
    return EndpointAccess(
        google=google,
        project=project,
        location=where,
        quota_project=access.quota_project,
        model_prefix=prefix,
    )


def _quota_project(configured: str | None, google: GoogleCredentialsInfo | None) -> str | None:
    """The quota project sent as x-goog-user-project: the config's, the credentials', the environment's."""
    if google is None:
        return None
    for value, source in (
        (configured, ".quota_project"),
        (google.quota_project, f"quota_project_id of {google.source}"),
        (_env("GOOGLE_CLOUD_QUOTA_PROJECT"), "$GOOGLE_CLOUD_QUOTA_PROJECT"),
    ):
        if value:
            problem = header_value_problem(value, f"the quota project from {source}")
            if problem is not None or any(char.isspace() for char in value):
                raise ValueError(problem or f"the quota project from {source} contains whitespace")
            return value
    return None


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def ephemeral_source(
    settings: TokenSettings, url: str, api_key: SecretStr, model: str, setup: Mapping[str, Any] | None
) -> EphemeralTokens:
    """The token minter of one model's sessions (`model`: its setup.model resource)."""
    locked: Mapping[str, Any] | None = None
    if settings.locked_setup == "session":
        locked = setup_message(model, setup)["setup"]
    elif settings._locked_payload is not None:
        locked = {"model": model, **settings._locked_payload}
    options = TokenOptions(
        service_url=settings.service_url or token_service_url(url),
        uses=settings.uses,
        expire_seconds=settings.expire,
        new_session_expire_seconds=settings.new_session_expire,
        timeout_seconds=settings.timeout,
        locked_setup=locked,
    )
    return EphemeralTokens(api_key.get_secret_value(), options)
