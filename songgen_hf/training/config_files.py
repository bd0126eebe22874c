"""Loading training configs from JSON/YAML into dataclasses, refusing unknown keys and wrong values.

Every value is checked against its field's annotation before the dataclass is built, so a typo in
a YAML file or a ``--set`` override (``max_steps=1e30``, which YAML reads as a string;
``learning_rate=.nan``) is a ``ValueError`` naming the option, never a ``TypeError`` from deep in
the training loop or a run that trains on NaN.  Numbers must be finite; a config class may also
name fields that must be positive (``positive_fields``) or lie in [0, 1] (``unit_fields``), and
every other float field must be >= 0 (learning rates, loss weights, norms: none is meaningful
below zero).  A config built in code gets the same checks: its ``__post_init__`` calls
:func:`check_config_values`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from songgen_hf.utils.safe_files import read_config_mapping

T = TypeVar("T")


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        raise ValueError(f"Config file not found: {path}")
    return read_config_mapping(path, "the config file")  # a FIFO, /dev/zero or a YAML bomb: one line


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["max_steps=10", "model.decode_only=false"]`` -> values parsed as YAML scalars."""
    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"Override {pair!r} must look like key=value.")
        key, value = pair.split("=", 1)
        if value.lstrip().startswith("!"):  # a YAML tag: a type of its own, never a plain option value
            raise ValueError(
                f"Override {pair!r}: {value.strip()!r} is a YAML tag, not a value; give a number, true/false, "
                "a string or a list (quote it if the text starts with '!')."
            )
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            reason = str(error).splitlines()[0]
            raise ValueError(f"Override {pair!r}: {value!r} is not a YAML value ({reason}).") from None
    return overrides


def dataclass_from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build ``cls`` from ``data``; unknown keys raise a ValueError that lists the valid ones."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} in {source}. Valid options: {sorted(fields)}.")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        _check_value(cls, name, value, hints[name], source)
    return cls(**data)


def _training_size_ranges() -> dict[str, tuple[int, int]]:
    from songgen_hf.modeling.limits import MAX_LORA_ALPHA, MAX_LORA_RANK, MAX_MODEL_WIDTH, MAX_TRAINING_BATCH_SIZE

    return {
        "batch_size": (1, MAX_TRAINING_BATCH_SIZE),
        "gradient_accumulation_steps": (1, 4_096),
        "num_workers": (0, 64),
        "max_frames": (1, 2**16),  # 22 minutes at 50 frames a second
        "num_eval_samples": (0, 64),
        "num_eval_clips": (0, 1_024),
        "validation_max_songs": (1, 100_000),
        "period_discriminator_channels": (1, MAX_MODEL_WIDTH),
        "lora_r": (1, MAX_LORA_RANK),
        "lora_alpha": (0, MAX_LORA_ALPHA),
    }


# The ranges of the training configs' size options (a config dataclass's ``bounded_fields``): a batch of 10**9 or
# a discriminator 10**9 wide is refused by name before anything is allocated.
TRAINING_SIZE_RANGES = _training_size_ranges()


def check_config_values(config) -> None:
    """The checks :func:`dataclass_from_dict` makes, on a config dataclass however it was built.

    Called first in each training config's ``__post_init__``, so ``CodecTrainingConfig(learning_rate=-1)``
    is refused by option name as a file or ``--set`` override would be, before any later check compares
    a value of the wrong type."""
    cls = type(config)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        _check_value(cls, field.name, getattr(config, field.name), hints[field.name], cls.__name__)


def _allowed(annotation) -> tuple[list, bool]:
    """The non-None members of an annotation and whether ``None`` is allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = list(typing.get_args(annotation))
    else:
        members = [annotation]
    return [member for member in members if member is not type(None)], type(None) in members


def _matches(value, annotation) -> bool:
    origin = typing.get_origin(annotation) or annotation
    if annotation is Any:
        return True
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):  # YAML writes tuples as lists
            return False
        element_types = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return all(any(_matches(item, arg) for arg in element_types) for item in value) if element_types else True
    if origin is dict:
        return isinstance(value, dict)
    return True  # anything richer is the config's own __post_init__ business


def _type_name(annotation) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "a string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _check_value(cls, name: str, value, annotation, source: str) -> None:
    members, nullable = _allowed(annotation)
    if value is None:
        if not nullable:
            raise ValueError(f"Option `{name}` in {source} cannot be null; give {_type_name(members[0])}.")
        return
    if not any(_matches(value, member) for member in members):
        expected = " or ".join(_type_name(member) for member in members) + (" or null" if nullable else "")
        looks_numeric = isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip())
        hint = " (YAML reads a number like 1e30 without a dot as a string; write 1.0e+30)" if looks_numeric else ""
        raise ValueError(f"Option `{name}` in {source} must be {expected}, got {value!r}{hint}.")
    numbers = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []
    if isinstance(value, (list, tuple)):
        numbers = [item for item in value if isinstance(item, (int, float)) and not isinstance(item, bool)]
    for number in numbers:
        if not math.isfinite(number):
            raise ValueError(f"Option `{name}` in {source} must be finite, got {value!r}.")
    bounds = getattr(cls, "bounded_fields", {}).get(name)
    if bounds is not None:  # sizes that build or batch something: a range, so no option exhausts the machine
        low, high = bounds
        for number in numbers:
            if not low <= number <= high:
                raise ValueError(f"Option `{name}` in {source} must be from {low:,} to {high:,}, got {value!r}.")
    if float in members and numbers:
        if name in getattr(cls, "positive_fields", ()) and not value > 0:
            raise ValueError(f"Option `{name}` in {source} must be > 0, got {value!r}.")
        if name in getattr(cls, "unit_fields", ()) and not 0 <= value <= 1:
            raise ValueError(f"Option `{name}` in {source} must lie in [0, 1], got {value!r}.")
        if value < 0:
            raise ValueError(f"Option `{name}` in {source} must be >= 0, got {value!r}.")


__all__ = ["TRAINING_SIZE_RANGES", "read_config_file", "parse_overrides", "dataclass_from_dict", "check_config_values"]
