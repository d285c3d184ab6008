"""GoogleAccessTokens: Vertex AI access tokens from google-auth credentials, refreshed before they expire.

Google OAuth access tokens live about an hour. The credentials (a service-account key or Application Default
Credentials, built by `monitor.config.credentials`) are refreshed by google-auth itself, the library Google's
own clients use; its refresh is blocking HTTP, so it runs in a worker thread under a deadline and never on the
event loop. One refresh at a time per endpoint (every job shares the source).

When a token is refreshed is decided on the injected clock, not on google-auth's wall-clock `expired`: the
lifetime google-auth reports (`expiry` minus now, right after the refresh) is counted on our monotonic clock.
A token with more than `refresh_margin` left is used as it is; inside the margin it is still used while a
background refresh replaces it; only a missing or expired token makes the probe wait for the refresh (phase
`credentials`). A failed refresh is `CredentialFailed` with the token endpoint's HTTP status and OAuth error
(`invalid_grant: ...`), so a revoked key reads as our credentials and an OAuth outage as unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import re
import threading
import time
from typing import Any

import aiohttp
import google.auth.exceptions
import google.auth.transport
import google.auth.transport.requests
import requests
from google.auth.credentials import Credentials

from monitor.clock import Clock
from monitor.live.conversation import Trace
from monitor.live.phase import Phase
from monitor.probe.credentials import Credential, CredentialFailed

__all__ = ["DEFAULT_REFRESH_MARGIN_SECONDS", "DEFAULT_REFRESH_TIMEOUT_SECONDS", "GoogleAccessTokens"]

# google-auth's own margin (_helpers.REFRESH_THRESHOLD) is 3 min 45 s; 5 min leaves a slow refresh room.
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0
# Google's token endpoint answers in well under a second; a refresh still going after 10 s has failed.
DEFAULT_REFRESH_TIMEOUT_SECONDS = 10.0
# A token endpoint that sends no expires_in: assume the documented hour.
_DEFAULT_LIFETIME_SECONDS = 3600.0
_log = logging.getLogger(__name__)
_MAX_ANSWER_BYTES = 64 * 1024
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{8,4096}")


class _TokenEndpointFailed(google.auth.exceptions.TransportError):
    """A 5xx or 429 from the token endpoint, raised at once instead of google-auth's in-thread backoff."""

    def __init__(self, status: int, data: Any) -> None:
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
        try:
            body = json.loads(text)
            text = f"{body.get('error', '')}: {body.get('error_description', '')}".strip(": ")
        except (ValueError, AttributeError):
            pass
        super().__init__(f"HTTP {status} {' '.join(text.split())[:160]}".rstrip())  # type: ignore[no-untyped-call]


class _UnusableAnswer(google.auth.exceptions.RefreshError):
    """google-auth failed on the token endpoint's answer itself: a 200 that is a login page (a captive portal,
    a proxy) or broken JSON, an `expires_in` no clock can hold. The endpoint's fault, not a bug of ours."""


class _BoundedSession(requests.Session):
    """requests, as google-auth's transport uses it, with the token endpoint's answer bounded in size and in
    total time: a token endpoint that drips or floods cannot hold the refresh thread or its memory."""

    def __init__(self, total_seconds: float) -> None:
        super().__init__()
        self._total = total_seconds

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["stream"] = True
        response = super().request(method, url, *args, **kwargs)
        deadline = time.monotonic() + self._total
        body = bytearray()
        for chunk in response.iter_content(16 * 1024):
            body += chunk
            if len(body) > _MAX_ANSWER_BYTES or time.monotonic() > deadline:
                response.close()
                raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                    "the token endpoint's answer is too large or too slow"
                )
        response._content = bytes(body)
        return response


class _RecordingRequest(google.auth.transport.Request):
    """google-auth's requests transport with a per-request timeout, remembering the last HTTP status.

    A retryable answer (5xx, 429) fails the refresh at once: google-auth would otherwise back off for seconds
    inside the worker thread, holding the deadline; the next probe retries, so the probe schedule is the
    backoff."""

    def __init__(self, timeout: float) -> None:
        self._session = _BoundedSession(timeout)
        self._inner = google.auth.transport.requests.Request(self._session)
        self._timeout = timeout
        self.last_status: int | None = None

    def close(self) -> None:
        self._session.close()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        response: google.auth.transport.Response = self._inner(
            url, method=method, body=body, headers=headers, timeout=timeout or self._timeout, **kwargs
        )
        self.last_status = response.status
        if response.status >= 500 or response.status == 429:
            raise _TokenEndpointFailed(response.status, response.data)
        return response


class GoogleAccessTokens:
    """Bearer credentials for one Vertex AI endpoint; `secrets()` is what the runner must redact."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        quota_project: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        refresh_timeout: float = DEFAULT_REFRESH_TIMEOUT_SECONDS,
    ) -> None:
        self._credentials = credentials
        self._quota_project = quota_project or getattr(credentials, "quota_project_id", None) or None
        self._margin = refresh_margin
        self._timeout = refresh_timeout
        self._token = ""
        self._expires_at = float("-inf")  # on the caller's monotonic clock
        self._refresh: asyncio.Task[None] | None = None
        # A refresh abandoned at its deadline may still run in its thread: one at a time per credentials.
        self._thread_lock = threading.Lock()
        self.refreshes = 0  # completed refreshes, for tests and logs

    def __repr__(self) -> str:
        return f"GoogleAccessTokens(quota_project={self._quota_project!r}, token=<redacted>)"

    async def credential(self, http: aiohttp.ClientSession, clock: Clock, trace: Trace) -> Credential:
        now = clock.monotonic()
        if not self._token or now >= self._expires_at:
            trace.phase = Phase.CREDENTIALS
            await asyncio.shield(self._start_refresh(clock))
        elif now >= self._expires_at - self._margin:
            self._start_refresh(clock)  # the current token still works; its successor is on the way
        headers = {"x-goog-user-project": self._quota_project} if self._quota_project else {}
        return Credential("bearer", self._token, headers)

    def secrets(self) -> tuple[str, ...]:
        """The current access token and what the credentials hold (refresh token, client secret)."""
        held = [getattr(self._credentials, name, None) for name in ("refresh_token", "client_secret")]
        return tuple(str(s) for s in (self._token, *held) if isinstance(s, str) and s)

    def _start_refresh(self, clock: Clock) -> asyncio.Task[None]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._refreshed(clock), name="oauth-refresh")
            self._refresh.add_done_callback(_retrieve)
        return self._refresh

    async def _refreshed(self, clock: Clock) -> None:
        request = _RecordingRequest(self._timeout)
        started = clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                token, lifetime = await asyncio.to_thread(self._refresh_blocking, request)
        except TimeoutError:
            raise CredentialFailed(
                Phase.CREDENTIALS,
                f"OAuth token refresh took longer than {self._timeout:g} s",
                status=request.last_status,
                timed_out=True,
            ) from None
        except google.auth.exceptions.RefreshError as error:
            raise CredentialFailed(
                Phase.CREDENTIALS,
                f"OAuth token refresh failed: {_first_line(error)}",
                status=request.last_status,
            ) from None
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as error:
            raise CredentialFailed(
                Phase.CREDENTIALS,
                f"OAuth token refresh failed: {type(error).__name__}: {_first_line(error)}",
                status=request.last_status,
            ) from None
        if not _TOKEN_SHAPE.fullmatch(token):
            raise CredentialFailed(Phase.CREDENTIALS, "the token endpoint returned no usable access token")
        self._token = token
        self._expires_at = clock.monotonic() + lifetime
        self.refreshes += 1
        _log.info(
            "oauth access token refreshed in %.3f s, valid for %.0f s", clock.monotonic() - started, lifetime
        )

    def _refresh_blocking(self, request: _RecordingRequest) -> tuple[str, float]:
        """In the worker thread: google-auth's refresh, then the token and its lifetime in seconds."""
        with self._thread_lock:
            try:
                self._credentials.refresh(request)  # type: ignore[no-untyped-call]
            except (TypeError, KeyError, AttributeError, OverflowError, ValueError) as error:
                if isinstance(error, google.auth.exceptions.GoogleAuthError):
                    raise
                # google-auth reads the answer as a dict of strings and numbers: anything else fails inside
                # it (`string indices must be integers` for an HTML page, OverflowError for expires_in 1e30).
                raise _UnusableAnswer(  # type: ignore[no-untyped-call]
                    f"the token endpoint's answer (HTTP {request.last_status}) is not a token response "
                    f"({type(error).__name__})"
                ) from None
            finally:
                request.close()
        token = str(self._credentials.token or "")
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        if expiry is None:
            return token, _DEFAULT_LIFETIME_SECONDS
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return token, max(0.0, (expiry - now).total_seconds())


def _first_line(error: BaseException) -> str:
    # RefreshError's args are (message, response data); the message is the OAuth error and its description.
    text = str(error.args[0]) if error.args else str(error)
    return text.splitlines()[0][:200] if text else type(error).__name__


def _retrieve(task: asyncio.Task[None]) -> None:
    # A background refresh's failure is reported by the next probe that waits for a token; never "never
    # retrieved" noise.
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()
