"""Just enough PromQL reading for the dashboard and rule tests: metric names, selectors and range windows.

Not a parser: it relies on the expressions being syntactically valid (promtool checks that separately) and
reads them with a handful of regular expressions after masking string literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf'(?<![\w:.])({_IDENT})?\s*\{{((?:[^}}"]|"(?:[^"\\]|\\.)*")*)\}}')
_MATCHER = re.compile(rf'\s*({_IDENT})\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)
_RANGE = re.compile(r"\[([^\]]+)\]")
_RANGE_FUNCTION = re.compile(rf"\b({_IDENT})\(\s*{_IDENT}\s*(?:\{{[^}}]*\}})?\s*\[([^\]]+)\]")


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value without quotes)

    def values(self, label: str) -> list[str]:
        return [value for name, _, value in self.matchers if name == label]


def _mask_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def selectors(expr: str) -> list[Selector]:
    """Every `metric{...}` vector selector, with its matchers."""
    found = []
    for match in _SELECTOR.finditer(expr):
        body = match.group(2)
        matchers = tuple((m.group(1), m.group(2), m.group(3)[1:-1]) for m in _MATCHER.finditer(body))
        found.append(Selector(match.group(1) or "", matchers))
    return found


def metric_names(expr: str) -> set[str]:
    """Every metric name the expression reads (function names, label names and keywords excluded)."""
    text = _mask_strings(expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    names = set()
    for match in re.finditer(rf"(?<![\w:.]){_IDENT}(?![\w:]|\s*\()", text):
        name = match.group(0)
        if name.lower() not in _KEYWORDS and name.lower() not in {"inf", "nan"}:
            names.add(name)
    return names


def range_windows(expr: str) -> list[str]:
    """Every `[window]` in the expression, in order."""
    return _RANGE.findall(_mask_strings(expr))


def windowed_calls(expr: str) -> list[tuple[str, str]]:
    """(function, window) for each `function(selector[window])`."""
    return _RANGE_FUNCTION.findall(_mask_strings(expr))
