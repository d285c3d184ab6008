"""How a problem in a user's file is worded: one `<path>: <rule>` line per problem, the same everywhere.

The configuration (`check-config`, `run`) and the emulator's scenario files both validate with pydantic and
both report through `problem_lines`, so a user reads one vocabulary: `models[0].colour: unknown key`, with
`(did you mean 'color'?)` when a known key is close; `endpoints[0].auth: 'headr' is not one of header, query,
token, bearer`, repeating the value that was given; `models: required`. Paths use the file's own spelling
(`faults[0].windows[1].start`).
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["Problem", "close_match", "field_names_at", "format_loc", "problem_lines"]

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (`loc` as pydantic gives it, `path` as the file spells it) and the rule broken."""

    loc: tuple[int | str, ...]
    path: str
    rule: str
    unknown_key: bool = False


def problem_lines(error: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One Problem per pydantic error, worded for a person editing the file that `root` validates."""
    found: list[Problem] = []
    for item in error.errors(include_url=False, include_input=True):
        loc = tuple(item["loc"])
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            hint = close_match(name, field_names_at(root, loc[:-1]))
            message = "unknown key" + (f" (did you mean {hint!r}?)" if hint else "")
        elif kind == "missing":
            message = "required"
        elif kind in ("enum", "literal_error"):
            choices = _QUOTED.findall(str((item.get("ctx") or {}).get("expected", "")))
            if choices:
                message = f"{_shown(item.get('input'))} is not one of {', '.join(choices)}"
        found.append(Problem(loc, format_loc(loc), message, unknown_key=kind == "extra_forbidden"))
    return found


def close_match(name: str, candidates: Sequence[str]) -> str | None:
    """The one candidate close enough to `name` to be what was meant (difflib's ratio >= 0.75)."""
    matches = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None


def format_loc(loc: Sequence[int | str]) -> str:
    """`('models', 0, 'setup')` as `models[0].setup`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def field_names_at(root: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys the model at `loc` (under `root`) accepts; [] where that is not a model."""
    current: Any = root
    in_mapping = False
    for part in loc:
        if isinstance(part, int):
            continue
        if in_mapping:  # a mapping's key, e.g. a model name under `models:` of a scenario
            in_mapping = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        current, in_mapping = _element(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _element(annotation: Any) -> tuple[Any, bool]:
    """The model inside `X | None`, `list[X]` or `dict[str, X]`, and whether a mapping key comes first."""
    in_mapping = False
    for _ in range(4):
        origin = get_origin(annotation)
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = origin in (Union, types.UnionType) and len(args) == 1
        if optional or (origin in (list, tuple, set, frozenset, Sequence) and args):
            annotation = args[0]
        elif origin is dict and len(args) == 2:
            annotation, in_mapping = args[1], True
        else:
            break
    return annotation, in_mapping


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
