"""Loading training configs from JSON/YAML into dataclasses, refusing unknown keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValueError(f"Could not parse {path}: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of option names to values, got {type(data).__name__}.")
    return data


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["max_steps=10", "model.decode_only=false"]`` -> values parsed as YAML scalars."""
    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"Override {pair!r} must look like key=value.")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def dataclass_from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build ``cls`` from ``data``; unknown keys raise a ValueError that lists the valid ones."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} in {source}. Valid options: {sorted(fields)}.")
    return cls(**data)


__all__ = ["read_config_file", "parse_overrides", "dataclass_from_dict"]
