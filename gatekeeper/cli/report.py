"""`gatekeeper report`: a compliance report for a period, written to a file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli.context import console, console_err, open_current_store, state
from gatekeeper.cli.options import ReportFormat, ReportFormatOption


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def report(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: ReportFormatOption = ReportFormat.json,
    since: Annotated[datetime | None, typer.Option(help="Start of the period (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="End of the period (UTC).")] = None,
    source: Annotated[str | None, typer.Option(help="Only this Git source's events.")] = None,
) -> None:
    """Write a compliance report: integrity of the log and every event of the period.

    Exit 1 when the audit log fails verification (the report is still written, saying so).
    """
    from gatekeeper.audit.checkpoints import verifier_from_settings
    from gatekeeper.audit.errors import TamperDetected
    from gatekeeper.report.model import build_report
    from gatekeeper.report.render import render

    start, end = _utc(since), _utc(until)
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter("--until must be after --since", param_hint="--until")
    settings = state(ctx).settings()
    verifier = verifier_from_settings(settings)
    store = open_current_store(settings)
    try:
        built = build_report(
            store, since=start, until=end, verifier=verifier, source=source, workers=0
        )
    finally:
        store.close()
    output.write_bytes(render(built, fmt.value))
    console().print(f"wrote {output} ({len(built.events)} events, {fmt.value})")
    if verifier is None:
        console_err().print("checkpoint signatures were not checked: set audit.publicKeyFile")
    if not built.integrity.ok:
        raise TamperDetected(
            f"the audit log fails verification at record {built.integrity.first_bad_seq}"
        )
