"""Where the configuration comes from: which file (`-c`, `$LIVE_MONITOR_CONFIG`, `config/monitor.yaml`), its
YAML read into a mapping, the paths it names made relative to it, the setup payload files it names, and the
merge with environment overrides.

`monitor.config.settings` validates what this module reads; a file that cannot be read or parsed is a
`ConfigError` naming the file and, for YAML errors, the line and column.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from monitor.config.syntax import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "deep_merge",
    "read_setup",
    "read_yaml",
    "relative_to",
    "resolve_config_path",
]

CONFIG_ENV = "LIVE_MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/monitor.yaml")


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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from None
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
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {str(path)!r}: {error.strerror}") from None
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
