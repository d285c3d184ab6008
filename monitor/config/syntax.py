"""The syntax of configuration values and of configuration problems.

Durations (`90s`, `3m`, `250ms` or plain seconds), `HOST:PORT` addresses, and `ConfigError`, which carries
every problem found as a `<path>: <rule>` line (`models[1].id: duplicate model ...`), as `check-config`
prints them (worded by `monitor.problems`, shared with the emulator's scenario files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ValidationError

from monitor.problems import problem_lines

__all__ = ["ConfigError", "Duration", "PositiveDuration", "parse_duration", "parse_listen", "problems_of"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
# Ten years: past this a duration is a typo, and a datetime it is added to would overflow (year 10000).
MAX_DURATION_SECONDS = 3650 * 86400.0
_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """Every problem found in a configuration, each as `<path>: <rule>`."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


def parse_duration(value: object, *, maximum: float = MAX_DURATION_SECONDS) -> float:
    """Seconds from a number or a string like `90s`, `3m`, `250ms`, `1h`; ValueError naming the rule."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 60, '60s' or '2m' (got {value!r})")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"must be a duration like 60, '60s' or '2m' (got {value!r})")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"must be a duration like 60, '60s' or '2m' (got {value!r})")
    if seconds > maximum:
        raise ValueError(f"must be a duration of at most {maximum:g} s (got {value!r})")
    return seconds


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a duration > 0 like 60, '60s' or '2m' (got {value!r})")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]


def parse_listen(text: str) -> tuple[str, int]:
    """(host, port) from `HOST:PORT` (`[::]:9478` for IPv6); ValueError naming the rule."""
    match = _LISTEN.match(text)
    if match is None or int(match.group("port")) > 65535:
        raise ValueError(f"must be HOST:PORT with a port 0-65535 (got {text!r})")
    return match.group("host").strip("[]"), int(match.group("port"))


def problems_of(
    error: ValidationError,
    root: type[BaseModel],
    *,
    variable_of: Callable[[tuple[int | str, ...]], str | None] = lambda loc: None,
    hint: Callable[[str], str | None] = lambda variable: None,
) -> list[str]:
    """Pydantic's errors as `<path>: <rule>` lines, in the vocabulary of a config file.

    A problem in a value set by an environment variable starts with that variable (`variable_of`), and an
    unknown key set by one reads `LIVE_MONITOR_X__Y: unknown key x.y (did you mean LIVE_MONITOR_X__Z?)`
    (`hint` names the variable meant).
    """
    problems: list[str] = []
    for problem in problem_lines(error, root):
        variable = variable_of(problem.loc)
        if variable is not None and problem.unknown_key:
            meant = hint(variable)
            problems.append(
                f"{variable}: unknown key {problem.path}" + (f" (did you mean {meant}?)" if meant else "")
            )
            continue
        lead = f"{variable}: " if variable is not None else ""
        for line in problem.rule.split("\n"):
            # Rules of a whole section may name a sub-key (".timeouts: ..."); top-level ones their own path.
            if line.startswith("."):
                problems.append(f"{lead}{problem.path}{line}")
            else:
                problems.append(f"{lead}{problem.path}: {line}" if problem.path else f"{lead}{line}")
    return problems
