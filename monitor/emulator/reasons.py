"""The close reasons the real service sends (as quoted in public issue reports), by name; their truncation.

Scenarios name a reason (`reason: internal`) instead of copying text, so every scenario speaks the service's
exact words. A reason that is not a catalogue name is used verbatim.
"""

from __future__ import annotations

__all__ = [
    "CLOSE_REASON_MAX_BYTES",
    "REASONS",
    "invalid_value",
    "model_not_found",
    "publisher_model_not_found",
    "resolve_reason",
    "text_modality_unsupported",
    "truncate_reason",
    "unknown_field",
]

# A close frame's payload is at most 125 bytes; 2 of them carry the code.
CLOSE_REASON_MAX_BYTES = 123

REASONS: dict[str, str] = {
    # 1011: backend failures (the headline error)
    "internal": "Internal error encountered.",
    "internal_occurred": "Internal error occurred.",
    "unavailable": "The service is currently unavailable.",
    "deadline": "Deadline expired before operation could complete.",
    "quota": (
        "You exceeded your current quota, please check your plan and billing details. "
        "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    "resource_exhausted": "Resource has been exhausted (e.g. check quota).",
    "thread_cancelled": (
        "Thread was cancelled when writing StartStep status to channel.; "
        "Failed to close the streaming context; status = CANCELLED: "
    ),
    # 1007: invalid argument
    "invalid_argument": "Request contains an invalid argument.",
    "api_key_invalid": "API key not valid. Please pass a valid API key.",
    "api_key_not_found": "API Key not found. Please pass a valid API key.",
    "api_key_expired": "API key expired. Please renew the API key.",
    "location_unsupported": "User location is not supported for the API use.",
    "media_chunks_deprecated": (
        "realtime_input.media_chunks is deprecated. Use audio, video, or text instead."
    ),
    "no_voices": "Cannot extract voices from a non-audio request.",
    # 1008: policy (not found, permission, unimplemented, aborted)
    "unregistered_caller": (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    ),
    "invalid_credentials": (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential."
    ),
    "not_implemented": "Operation is not implemented, or supported, or enabled.",
    "entity_not_found": "Requested entity was not found.",
    "goaway_abort": (
        "Connection aborted because the client failed to close the connection after receiving a GoAway "
        "signal once the session duration limit was reached."
    ),
    # 1000: cancelled (Vertex at the connection limit)
    "cancelled": "The operation was cancelled.",
}


def truncate_reason(reason: str) -> str:
    """Cut to 123 UTF-8 bytes as the service does, never splitting a character."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= CLOSE_REASON_MAX_BYTES:
        return reason
    return encoded[:CLOSE_REASON_MAX_BYTES].decode("utf-8", errors="ignore")


def resolve_reason(name_or_text: str) -> str:
    """A catalogue name becomes its text; anything else is taken verbatim."""
    return REASONS.get(name_or_text, name_or_text)


def model_not_found(model: str, version: str) -> str:
    return (
        f"models/{model} is not found for API version {version}, or is not supported for "
        "bidiGenerateContent. Call ListModels to see the list of available models and their supported "
        "methods."
    )


def publisher_model_not_found(resource: str) -> str:
    return (
        f"Publisher Model `{resource}` was not found or your project does not have access to it. "
        "Please ensure you are using a valid model version."
    )


def text_modality_unsupported(model: str) -> str:
    return (
        "The requested combination of response modalities (TEXT) is not supported by the model. "
        f"models/{model}"
    )


def unknown_field(name: str, path: str) -> str:
    """The proto3-JSON parser's wording; `path` uses the proto (snake_case) names, empty at the root."""
    where = f" at '{path}'" if path else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'


def invalid_value(path: str, type_name: str, detail: str) -> str:
    """A value the parser cannot read into its field's type, e.g. bad base64 or an unknown enum name
    (the wording of Google's JSON parser on the REST API: `Invalid value at '...' (TYPE_BYTES), ...`)."""
    return f"Invalid value at '{path}' ({type_name}), {detail}"
