"""Report renderers: JSON, CSV, HTML (Jinja2, autoescaped) and PDF (fpdf2)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape

from gatekeeper.report.model import Report

Format = Literal["json", "csv", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("json", "csv", "html", "pdf")
CSV_COLUMNS = ("seq", "time", "kind", "actor", "subject", "source", "commit", "summary", "hash")


def render_json(report: Report) -> bytes:
    return (json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def render_csv(report: Report) -> bytes:
    """One line per event of the period, with the integrity verdict in a leading comment row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.events:
        record = row.as_json()
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow([_defuse(record[column]) for column in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _defuse(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_environment = Environment(
    loader=PackageLoader("gatekeeper.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(report: Report) -> bytes:
    template = _environment.get_template("report.html.j2")
    return template.render(report=report, data=report.as_json()).encode("utf-8")


def render_pdf(report: Report) -> bytes:
    from gatekeeper.report.pdf import build_pdf

    return build_pdf(report)


RENDERERS: dict[Format, Callable[[Report], bytes]] = {
    "json": render_json,
    "csv": render_csv,
    "html": render_html,
    "pdf": render_pdf,
}


def render(report: Report, fmt: Format) -> bytes:
    return RENDERERS[fmt](report)
