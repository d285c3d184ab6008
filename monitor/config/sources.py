"""Where the configuration comes from: which file (`-c`, `$LIVE_MONITOR_CONFIG`, `config/monitor.yaml`), its
YAML read into a mapping, the paths it names made relative to it, the setup payload files it names, and the
merge with environment overrides.

`monitor.config.settings` validates what this module reads; a file that cannot be read or parsed is a
`ConfigError` naming the file and, for YAML errors, the line and column. A key given twice in one mapping is
such an error (PyYAML would silently keep the last). Files named by the configuration (key files, setup
payloads) must be regular files of bounded size: a FIFO or a device would block or never end.

`LIVE_MONITOR_<SECTION>__<KEY>` variables are read here too (`read_environment`), remembering which variable
set which key, so a problem names the variable the user has to fix.
"""

from __future__ import annotations

import json
import os
import stat
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from monitor.config.syntax import ConfigError
from monitor.problems import close_match, field_names_at

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "Environment",
    "deep_merge",
    "env_hint",
    "load_yaml_text",
    "read_environment",
    "read_setup",
    "read_small_file",
    "read_yaml",
    "relative_to",
    "resolve_config_path",
]

CONFIG_ENV = "LIVE_MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/monitor.yaml")
ENV_PREFIX = "LIVE_MONITOR_"
# LIVE_MONITOR_* names that are not settings: the config file's name, and the compose file's own variable.
NOT_SETTINGS = frozenset({CONFIG_ENV, "LIVE_MONITOR_COMPOSE_TARGETS"})
# A key file or setup payload is a few hundred bytes; more is a wrong path (a log, an image), not a secret.
MAX_FILE_BYTES = 1 << 20


def read_small_file(path: Path, *, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; ValueError saying what is wrong.

    Checked before opening: opening a FIFO blocks until a writer comes, and a device may never end.
    """
    try:
        info = path.stat()
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"cannot read {str(path)!r}: not a regular file ({_file_kind(info.st_mode)})")
    if info.st_size > limit:
        raise ValueError(f"cannot read {str(path)!r}: {info.st_size} bytes, more than {limit} (wrong file?)")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if len(data) > limit:
        raise ValueError(f"cannot read {str(path)!r}: more than {limit} bytes (wrong file?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"cannot read {str(path)!r}: not UTF-8 text") from None


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (YAML 1.2 says keys are unique)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first != key_node.start_mark.line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first + 1})", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> Any:
    """YAML with unique keys; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True, slots=True)
class Environment:
    """The `LIVE_MONITOR_*` overrides as nested values, which variable set each key, and unreadable ones."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def variable_of(self, loc: tuple[int | str, ...]) -> str | None:
        """The variable that set `loc`, a section above it, or (for an unknown section) a key below it."""
        keys = tuple(str(part) for part in loc if isinstance(part, str))
        for end in range(len(keys), 0, -1):
            if keys[:end] in self.origins:
                return self.origins[keys[:end]]
        below = sorted(name for path, name in self.origins.items() if keys and path[: len(keys)] == keys)
        return below[0] if below else None

    def path_of(self, variable: str) -> tuple[str, ...]:
        return next(path for path, name in self.origins.items() if name == variable)


def read_environment(environ: Mapping[str, str], root: type[BaseModel]) -> Environment:
    """`LIVE_MONITOR_<SECTION>__<KEY>=value` as nested settings for `root`; lists and sections are JSON.

    A name that is not a setting stays in the values, for validation to call an unknown key (and
    `Environment.origins` to name the variable); a list or section that is not JSON is a problem here.
    """
    values: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() in NOT_SETTINGS:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(path):
            problems.append(f"{name}: empty key between '__' separators")
            continue
        raw = environ[name]
        value: Any = raw
        if _is_structured(root, path):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                example = '["text", "audio"]'
                problems.append(
                    f"{name}: {'.'.join(path)} takes JSON (a list or a section, e.g. '{example}'), "
                    f"got {raw[:40]!r}: {error.msg} at column {error.colno}"
                )
                continue
        origins[path] = name
        node = values
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        existing = node.get(path[-1])
        if isinstance(existing, dict) and isinstance(value, dict):
            value = deep_merge(existing, value)
        node[path[-1]] = value
    return Environment(values=values, origins=origins, problems=tuple(problems))


def env_hint(path: tuple[str, ...], root: type[BaseModel]) -> str | None:
    """The variable probably meant for an unknown one: each key corrected to a close known key, and a
    single `_` where `__` was meant (`PROBES_INTERVAL` -> `PROBES__INTERVAL`); None when nothing is close."""
    fixed: list[str] = []
    for part in path:
        names = field_names_at(root, fixed)
        if part in names:
            fixed.append(part)
            continue
        words = part.split("_")
        split = next(
            (
                ("_".join(words[:cut]), "_".join(words[cut:]))
                for cut in range(1, len(words))
                if "_".join(words[:cut]) in names
                and "_".join(words[cut:]) in field_names_at(root, (*fixed, "_".join(words[:cut])))
            ),
            None,
        )
        match = close_match(part, names)
        if split is not None:
            fixed.extend(split)
        elif match is not None:
            fixed.append(match)
        else:
            return None
    return ENV_PREFIX + "__".join(fixed).upper()


def _is_structured(root: type[BaseModel], path: tuple[str, ...]) -> bool:
    """True when the setting at `path` is a list, mapping or section (set as JSON), False for a scalar."""
    current: Any = root
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return False
        info = current.model_fields.get(part)
        if info is None:
            return False
        current = _unwrap_optional(info.annotation)
    origin = get_origin(current)
    if origin in (list, dict, tuple, set):
        return True
    return isinstance(current, type) and issubclass(current, BaseModel)


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def resolve_config_path(path: str | None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (`-c` or `$LIVE_MONITOR_CONFIG`)."""
    if path:
        return Path(path), True
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = read_small_file(path)
    except ValueError as error:
        raise ConfigError([f"{path}: {error}"]) from None
    try:
        data = load_yaml_text(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}: invalid YAML{where}: {error.problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: must be a mapping of sections (vantage, endpoints, models, ...)"])
    return data


def relative_to(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Setup files named in the config file are relative to it, as in Prometheus' rule_files."""
    models = data.get("models")
    if not isinstance(models, list):
        return data
    resolved = []
    for entry in models:
        setup = entry.get("setup") if isinstance(entry, dict) else None
        if isinstance(setup, str) and setup and not Path(setup).is_absolute():
            resolved.append({**entry, "setup": str(base_dir / setup)})
        else:
            resolved.append(entry)
    return {**data, "models": resolved}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_setup(path: Path, model_id: str) -> Mapping[str, Any]:
    """A setup payload file named by the config: a JSON setup message, bare or as {"setup": ...}, for
    `model_id`; ValueError says what is wrong with it, for pydantic to report under the model's `setup`."""
    text = read_small_file(path)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"invalid JSON in {str(path)!r}: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    if isinstance(payload, dict) and set(payload) == {"setup"}:
        payload = payload["setup"]
    if not isinstance(payload, dict):
        raise ValueError(f"{str(path)!r} must hold a JSON object (the setup message)")
    model = payload.get("model")
    if model is not None and model_id and model != f"models/{model_id}":
        raise ValueError(f"{str(path)!r} names model {model!r} but this model is 'models/{model_id}'")
    return payload
