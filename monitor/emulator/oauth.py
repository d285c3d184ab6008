"""The emulator's OAuth 2.0 token endpoint (`POST /token`) and the Vertex AI access tokens it issues.

Enough of Google's token endpoint for google-auth to refresh against it without the internet:

- the JWT-bearer grant of service accounts (RFC 7523, grant type
  `urn:ietf:params:oauth:grant-type:jwt-bearer`:
  an RS256 assertion signed with the account's private key, `aud` = this endpoint or Google's); the signature
  is checked against the public key of an account this emulator generated (`new_service_account`, a key
  file whose `token_uri` points here);
- the refresh-token grant of `authorized_user` files (what `gcloud auth application-default login` writes),
  for the users registered with `new_authorized_user`.

Each grant issues an opaque access token that expires `access_token_lifetime_seconds` later on the emulator's
clock; the Vertex AI endpoint accepts only unexpired tokens issued here (`valid`). Errors are RFC 6749 JSON
(`{"error": "invalid_grant", "error_description": ...}`) as Google sends them. Faults at `oauth_token` (an
HTTP status, a hang, a delay) make the refresh fail or slow down. Tokens, keys and secrets are never logged.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import google.auth.exceptions
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from monitor.clock import Clock

__all__ = ["JWT_BEARER_GRANT", "OAuthIssuer", "oauth_error", "read_form"]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
_MAX_BODY_BYTES = 64 * 1024


def oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


@dataclass(slots=True)
class OAuthIssuer:
    """Registered accounts and the access tokens issued to them (expiry on `clock.monotonic()`)."""

    clock: Clock
    lifetime_seconds: float = 3600.0
    _public_keys: dict[str, bytes] = field(default_factory=dict)  # client_email -> PEM public key
    _refresh_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (client id, secret)
    _issued: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    grants: int = 0  # access tokens issued, for tests

    def new_service_account(self, *, token_uri: str, project: str = "emulator-project") -> dict[str, Any]:
        """A fresh service-account key file (as the IAM console downloads it) whose token_uri points here."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        email = f"probe-{secrets.token_hex(4)}@{project}.iam.gserviceaccount.com"
        self._public_keys[email] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": secrets.token_hex(20),
            "private_key": private_pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "token_uri": token_uri,
        }

    def new_authorized_user(self, *, token_uri: str, quota_project: str | None = None) -> dict[str, Any]:
        """A fresh `authorized_user` ADC file (client id, client secret, refresh token) refreshing here."""
        client_id = f"{secrets.token_hex(8)}.apps.googleusercontent.com"
        client_secret = secrets.token_urlsafe(18)
        refresh_token = "1//emu-" + secrets.token_urlsafe(32)
        self._refresh_tokens[refresh_token] = (client_id, client_secret)
        info: dict[str, Any] = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "token_uri": token_uri,
        }
        if quota_project:
            info["quota_project_id"] = quota_project
        return info

    def valid(self, token: str) -> bool:
        """Whether `token` was issued here and has not expired."""
        expiry = self._issued.get(token)
        return expiry is not None and self.clock.monotonic() < expiry

    def grant(self, form: dict[str, str], token_uri: str) -> web.Response:
        """Answer one token request (the form fields of the POST)."""
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER_GRANT:
            refusal = self._check_assertion(form.get("assertion", ""), token_uri)
        elif grant_type == "refresh_token":
            refusal = self._check_refresh(form)
        else:
            return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type[:60])
        if refusal is not None:
            return refusal
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        self._issued[token] = self.clock.monotonic() + self.lifetime_seconds
        self._forget_expired()
        self.grants += 1
        body = {"access_token": token, "expires_in": int(self.lifetime_seconds), "token_type": "Bearer"}
        return web.json_response(body)

    def _check_assertion(self, assertion: str, token_uri: str) -> web.Response | None:
        try:
            claims = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
            email = str(claims.get("iss", ""))
            public_key = self._public_keys.get(email)
            if public_key is None:
                return oauth_error(400, "invalid_grant", "Invalid grant: account not found")
            # google-auth signs for Google's endpoint whatever the key file's token_uri: accept both.
            audience = [token_uri, GOOGLE_TOKEN_URI]
            jwt.decode(assertion, certs=public_key.decode(), audience=audience)  # type: ignore[no-untyped-call]
        except (google.auth.exceptions.GoogleAuthError, ValueError):
            return oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        return None

    def _check_refresh(self, form: dict[str, str]) -> web.Response | None:
        client = self._refresh_tokens.get(form.get("refresh_token", ""))
        if client is None:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if client != (form.get("client_id", ""), form.get("client_secret", "")):
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        return None

    def _forget_expired(self) -> None:
        now = self.clock.monotonic()
        for token in [t for t, expiry in self._issued.items() if expiry <= now]:
            del self._issued[token]


async def read_form(request: web.Request) -> dict[str, str] | None:
    """The urlencoded body of a token request, bounded; None when it is too large or not a form."""
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        return None
    try:
        async with asyncio.timeout(10.0):
            raw = await request.read()  # bounded by the app's client_max_size (1 MiB)
    except (TimeoutError, web.HTTPException):
        return None
    if len(raw) > _MAX_BODY_BYTES:
        return None
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None
