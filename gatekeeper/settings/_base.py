"""The building blocks of every settings section: durations and the strict section model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)
from pydantic.alias_generators import to_camel

CONFIG_ENV = "GATEKEEPER_CONFIG"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Turn `60s`, `5m`, `1h`, `250ms` or a bare number into seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 60s, 5m or 1h is expected")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration such as 60s, 5m or 1h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
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
