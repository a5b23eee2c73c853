"""`gatekeeper audit`: verify the log, sign checkpoints, make keys, read events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gatekeeper.audit.checkpoints import signer_from_settings, verifier_from_settings
from gatekeeper.audit.errors import TamperDetected
from gatekeeper.audit.signing import Verifier, generate_keypair
from gatekeeper.audit.verify import iter_text, verify_store
from gatekeeper.cli.context import console, open_current_store, state
from gatekeeper.errors import ConfigError
from gatekeeper.settings import Settings

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

FormatOption = Annotated[str, typer.Option("--format", help="text or json.")]


def _check_format(value: str) -> str:
    if value not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--format")
    return value


def _verifier(settings: Settings) -> Verifier:
    verifier = verifier_from_settings(settings)
    if verifier is None:
        raise ConfigError("audit verify needs the checkpoint public key: set audit.publicKeyFile")
    return verifier


@app.command()
def verify(ctx: typer.Context, output: FormatOption = "text") -> None:
    """Recompute the hash chain and check every checkpoint; exit 1 on any tampering."""
    _check_format(output)
    settings = state(ctx).settings()
    verifier = _verifier(settings)
    store = open_current_store(settings)
    try:
        report = verify_store(store, verifier, workers=0)
    finally:
        store.close()
    if output == "json":
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        for line in iter_text(report):
            console.print(line)
    if not report.ok:
        if output == "json":
            raise typer.Exit(1)
        raise TamperDetected(
            f"the audit log was tampered with: first bad record {report.first_bad_seq}"
        )
    if output == "text":
        console.print("[green]ok[/green]: chain and checkpoints verify", markup=True)


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint over the current chain head now."""
    settings = state(ctx).settings()
    signer = signer_from_settings(settings)
    store = open_current_store(settings)
    try:
        made = store.checkpoint(signer)
    finally:
        store.close()
    console.print(
        f"checkpoint {made.id}: record {made.seq}, head {made.head_hash[:16]}..., key {made.key_id}"
    )


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Folder for the key pair.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing pair.")] = False,
) -> None:
    """Write a new Ed25519 checkpoint key pair: audit-ed25519.pem and audit-ed25519.pub."""
    private_path, public_path = generate_keypair(out, overwrite=force)
    console.print(f"wrote {private_path} (keep it outside the database) and {public_path}")


@app.command()
def log(
    ctx: typer.Context,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Event kind (repeat).")] = None,
    source: Annotated[str | None, typer.Option(help="Source name.")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject.")] = None,
    actor: Annotated[str | None, typer.Option(help="Actor.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time (UTC).")] = None,
    after: Annotated[int | None, typer.Option(help="Cursor: records after this seq.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    output: FormatOption = "text",
) -> None:
    """List audit records matching the filters, a page at a time."""
    _check_format(output)
    settings = state(ctx).settings()
    store = open_current_store(settings)
    try:
        page = store.query(
            kinds=kind or (),
            source=source,
            subject=subject,
            actor=actor,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )
    finally:
        store.close()
    if output == "json":
        records = [
            {
                "seq": r.seq,
                "time": r.time.isoformat(),
                "kind": r.kind,
                "actor": r.actor,
                "subject": r.subject,
                "source": r.source,
                "commit": r.commit,
                "payload": r.payload,
                "hash": r.hash,
            }
            for r in page.records
        ]
        typer.echo(json.dumps({"records": records, "next": page.next_cursor}, indent=2))
        return
    table = Table("seq", "time", "kind", "actor", "subject", "commit")
    for r in page.records:
        table.add_row(
            str(r.seq),
            r.time.strftime("%Y-%m-%d %H:%M:%S"),
            r.kind,
            r.actor,
            r.subject,
            (r.commit or "")[:12],
        )
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"more: --after {page.next_cursor}")
