"""Report renderers: JSON and CSV (complete, streamed), HTML (Jinja2, autoescaped) and PDF.

`write(report, fmt, out)` streams a rendering into a binary file object; `render` returns the
bytes, for small reports and tests. HTML and PDF show a summary and each section's first
`report.row_limit` rows; JSON and CSV hold every record.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape

from gatekeeper.audit import chain
from gatekeeper.report.model import Report, Sink
from gatekeeper.report.tabular import write_csv, write_json

Format = Literal["json", "csv", "html", "pdf"]
FORMATS: tuple[Format, ...] = ("json", "csv", "html", "pdf")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
_FLUSH_CHARS = 1 << 16

_environment = Environment(
    loader=PackageLoader("gatekeeper.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def write_html(report: Report, out: Sink) -> None:
    """One self-contained page, streamed from the template as it renders."""
    template = _environment.get_template("report.html.j2")
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(
        report=report, data=report.header_json(), format_time=chain.format_time
    ):
        chunks.append(chunk)
        size += len(chunk)
        if size >= _FLUSH_CHARS:
            out.write("".join(chunks).encode("utf-8"))
            chunks, size = [], 0
    out.write("".join(chunks).encode("utf-8"))


def write(report: Report, fmt: Format, out: Sink, *, font_dir: Path | None = None) -> None:
    """Write `report` as `fmt` to `out`; `font_dir` overrides where the PDF's font is found."""
    if fmt == "json":
        write_json(report, out)
    elif fmt == "csv":
        write_csv(report, out)
    elif fmt == "html":
        write_html(report, out)
    elif fmt == "pdf":
        from gatekeeper.report.pdf import write_pdf

        write_pdf(report, out, font_dir=font_dir)
    else:
        raise ValueError(f"unknown report format {fmt!r}")


def render(report: Report, fmt: Format, *, font_dir: Path | None = None) -> bytes:
    """The whole rendering as bytes (in memory: prefer `write` for large periods)."""
    buffer = io.BytesIO()
    write(report, fmt, buffer, font_dir=font_dir)
    return buffer.getvalue()
