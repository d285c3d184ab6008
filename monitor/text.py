"""Display safety for text a peer controls: what may be printed where a person reads it.

A close reason, a message kind or a detail comes from the server (or from a probe describing what the server
did), so it may carry terminal escape sequences (ESC [ 2 J clears an on-call engineer's terminal), bidi
overrides that reorder what is shown, or Markdown and HTML that rewrite a report. Three helpers, one per
place text is shown:

- `printable` drops control characters (C0 but tab and newline, DEL, C1, bidi controls) and lone surrogates:
  for log lines and pages, before any HTML escaping;
- `markdown_inline` is `printable` for one line of a Markdown document, with Markdown's and HTML's active
  characters escaped so the text renders as itself, never as a heading, link, image or tag;
- `markdown_code` is the same text as one inline code span, fenced so no backtick inside can close it
  (CommonMark: a span opened by N backticks closes only at a run of exactly N);
- `redact_url` hides the credentials a URL may carry (userinfo, key-like query parameters).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "CREDENTIAL_PARAMETERS",
    "REDACTED",
    "credential_parameters",
    "header_value_problem",
    "markdown_code",
    "markdown_inline",
    "printable",
    "redact_url",
]

REDACTED: Final = "REDACTED"
# Query parameters that carry a credential in Google's and common OAuth URLs, compared case-insensitively
# (`key` is the Gemini API's, `access_token` OAuth's, `auth_token`/`token` ephemeral tokens').
CREDENTIAL_PARAMETERS: Final = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "access_token",
        "auth_token",
        "token",
        "id_token",
        "refresh_token",
        "password",
        "secret",
        "client_secret",
        "signature",
        "sig",
    }
)
_TOKENISH: Final = re.compile(r"(token|secret|passw|key|credential|signature|auth)", re.IGNORECASE)
# C0 controls except \t and \n, DEL, C1, the bidi embeddings/overrides/isolates, and lone surrogates.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_OR_NEWLINE: Final = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Every character Markdown (CommonMark + GFM tables) may treat as syntax, plus HTML's `<`, `>` and `&`.
_MARKDOWN_ACTIVE: Final = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_HTML: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def header_value_problem(value: str, what: str) -> str | None:
    """Why `value` (a key, a token, a project id sent in a request header) cannot be sent, else None.

    A line break or another control character (a key file with two lines, a pasted CR/LF) is refused by
    aiohttp at the first request; found at load time it is the user's error, named without quoting the
    value, which may be a secret."""
    for index, char in enumerate(value):
        if char in "\r\n":
            return (
                f"{what} contains a line break (character {index + 1} of {len(value)}); it must be one line"
            )
        if char < " " or char == "\x7f":
            return f"{what} contains a control character (character {index + 1} of {len(value)})"
    return None


def printable(text: str, *, newlines: bool = True) -> str:
    """`text` without control characters; with `newlines=False` line breaks go too (one-line fields)."""
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    return pattern.sub("", text)


def markdown_inline(text: str) -> str:
    """`text` as literal inline Markdown: one line, no control characters, syntax and HTML escaped."""
    flat = printable(text.replace("\r", " ").replace("\n", " "), newlines=False)
    escaped = "".join(_HTML.get(char, char) for char in flat)
    return _MARKDOWN_ACTIVE.sub(r"\\\1", escaped)


def markdown_code(text: str) -> str:
    """`text` as one inline code span: one line, no control characters, never closed early by a backtick."""
    flat = printable(text.replace("\r", " ").replace("\n", " "), newlines=False)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    # A space on each side when the text starts or ends with a backtick (CommonMark strips one of each).
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    return f"{fence}{padded}{fence}"


def credential_parameters(url: str) -> list[str]:
    """The query parameters of `url` that look like a credential (`key`, `access_token`, `*token*`, ...)."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    return [name for name, _ in parse_qsl(query, keep_blank_values=True) if _is_credential(name)]


def redact_url(url: str) -> str:
    """`url` with any userinfo and credential-like query values replaced by REDACTED; other parts kept."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return REDACTED  # not even a URL: show nothing of it
    if any(_is_credential(name) for name, _ in pairs):
        query = urlencode([(n, REDACTED if _is_credential(n) else v) for n, v in pairs], safe="/:")
    else:
        query = parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _is_credential(name: str) -> bool:
    return name.lower() in CREDENTIAL_PARAMETERS or bool(_TOKENISH.search(name))
