"""The building blocks of every settings section: durations and the strict section model."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)
from pydantic.alias_generators import to_camel

CONFIG_ENV = "GATEKEEPER_CONFIG"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# The longest duration any setting takes (certificate lifetimes are the longest ones). Beyond
# it a value is a mistake, and it would overflow `timedelta` and thread timeouts only later,
# in the middle of a run.
MAX_DURATION_SECONDS = 100 * 365 * 86_400.0


def parse_duration(value: object) -> float:
    """Turn `60s`, `5m`, `1h`, `250ms` or a bare number into seconds.

    NaN, infinity (YAML `.nan`, `.inf`), negative values and anything over a century are
    refused here, when the configuration loads.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration such as 60s, 5m or 1h")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 60s, 5m or 1h")
    if math.isnan(seconds):
        raise ValueError(f"{value!r} is not a duration: not a number")
    if seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it cannot be negative")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is not a duration: longer than 100 years")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    """A config section: camelCase in files, snake_case in code, unknown keys refused."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


# An environment variable's name, for settings that name one instead of a file.
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _is_remote(repo: str) -> bool:
    """A Git URL (`https://...`, `ssh://...`, `git@host:path`) rather than a local path."""
    return "://" in repo or repo.startswith("git@")


def code_names_in_file(model: type[BaseModel], data: object, where: str = "") -> list[str]:
    """The keys of a file's `data` that name a field of `model` (or of a section under it) by
    its name in code (`fail_closed`) instead of the file's spelling (`failClosed`).

    The sections accept code names because the environment spells keys so
    (`GATEKEEPER_ADMISSION__FAIL_CLOSED`); in a file such a key is unknown, and next to its
    file spelling it would be the same setting given twice.
    """
    found: list[str] = []
    _check_model(model, data, where, found)
    return list(dict.fromkeys(found))


def _check_model(model: type[BaseModel], data: object, where: str, found: list[str]) -> None:
    if not isinstance(data, Mapping):
        return
    by_alias = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        field = by_alias.get(key)
        if field is None:
            named = model.model_fields.get(key)
            if named is not None and named.alias not in (None, key):
                found.append(f"{where}{key}: unknown key (the file spells it {named.alias})")
            continue
        _check_value(field.annotation, value, f"{where}{key}", found)


def _check_value(annotation: Any, value: object, where: str, found: list[str]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        _check_model(annotation, value, f"{where}.", found)
        return
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset) and isinstance(value, list):
        for index, item in enumerate(value):
            for arg in args:
                _check_value(arg, item, f"{where}[{index}]", found)
    elif origin in (dict, Mapping) and len(args) == 2 and isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(args[1], item, f"{where}.{key}", found)
    else:  # a union, an optional or an annotated type: whichever member the value fits
        for arg in args:
            _check_value(arg, value, where, found)
