"""The URL paths the emulator serves and the credential a connection carries (the Live API reference and
google-genai's live.py).

Gemini API: `/ws/google.ai.generativelanguage.{v1alpha|v1beta|v1}.GenerativeService.BidiGenerateContent`
(and `...BidiGenerateContentConstrained` on v1alpha, for ephemeral tokens); Vertex AI:
`/ws/google.cloud.aiplatform.{v1beta1|v1}.LlmBidiService/BidiGenerateContent`. A doubled leading slash (what
google-genai 3.4.0 sends) is normalised. The credential is never logged; only its kind is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Api", "Credential", "CredentialKind", "Endpoint", "extract_credential", "match_endpoint"]


class Api(StrEnum):
    GEMINI = "gemini"
    VERTEX = "vertex"


class CredentialKind(StrEnum):
    HEADER = "header"
    QUERY = "query"
    TOKEN = "token"  # noqa: S105 - a kind, not a secret
    BEARER = "bearer"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Endpoint:
    api: Api
    version: str
    constrained: bool = False


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    value: str  # never logged

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind.value!r}, value=<redacted>)"


_GEMINI = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1alpha|v1beta|v1)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_VERTEX = re.compile(r"^/ws/google\.cloud\.aiplatform\.(v1beta1|v1)\.LlmBidiService/BidiGenerateContent$")


def match_endpoint(path: str) -> Endpoint | None:
    """The endpoint a request path names, or None (the upgrade then fails with 404)."""
    normalised = "/" + path.lstrip("/")
    if found := _GEMINI.match(normalised):
        version, method = found.groups()
        constrained = method == "BidiGenerateContentConstrained"
        if constrained and version != "v1alpha":
            return None
        return Endpoint(Api.GEMINI, version, constrained)
    if found := _VERTEX.match(normalised):
        return Endpoint(Api.VERTEX, found.group(1))
    return None


def extract_credential(headers: Mapping[str, str], query: Mapping[str, str]) -> Credential:
    """The first credential present, in the order the SDKs send them: header, query key, token, bearer."""
    if key := headers.get("x-goog-api-key", "").strip():
        return Credential(CredentialKind.HEADER, key)
    if key := query.get("key", "").strip():
        return Credential(CredentialKind.QUERY, key)
    if token := query.get("access_token", "").strip():
        return Credential(CredentialKind.TOKEN, token)
    authorization = headers.get("Authorization", "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "token" and value.strip():
        return Credential(CredentialKind.TOKEN, value.strip())
    if scheme.lower() == "bearer" and value.strip():
        return Credential(CredentialKind.BEARER, value.strip())
    return Credential(CredentialKind.NONE, "")
