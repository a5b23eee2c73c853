"""Options shared by the commands, declared once: `--format` choices and `--engine`.

Every choice is an enum, so the parser itself refuses a bad value with exit code 2 and a
message naming the allowed ones, the same way for every command.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class TextOrJson(StrEnum):
    """Output for people (text) or for programs (json)."""

    text = "text"
    json = "json"


class TableOrJson(StrEnum):
    """A table for people, or JSON for programs."""

    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    """The compliance report's file formats (`gatekeeper.report.render.FORMATS`)."""

    json = "json"
    csv = "csv"
    html = "html"
    pdf = "pdf"


class EngineName(StrEnum):
    """The policy engines (`gatekeeper.policy.engines.ENGINE_NAMES`)."""

    regorus = "regorus"
    opa = "opa"
    opa_server = "opa-server"


TextOrJsonOption = Annotated[TextOrJson, typer.Option("--format", help="Output format.")]
TableOrJsonOption = Annotated[
    TableOrJson, typer.Option("--format", help="Output format: json is one object per commit.")
]
ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", help="File format.")]
EngineOption = Annotated[
    EngineName | None,
    typer.Option("--engine", help="Policy engine (default: policies.engine)."),
]
