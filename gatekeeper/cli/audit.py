"""`gatekeeper audit`: verify the log, sign checkpoints, make keys, read events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gatekeeper.cli import report as report_command
from gatekeeper.cli.context import console, open_current_store, state
from gatekeeper.cli.options import TextOrJson, TextOrJsonOption
from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from gatekeeper.audit.signing import Verifier
    from gatekeeper.audit.verify import VerifyReport
    from gatekeeper.settings import Settings

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _verifier(settings: Settings) -> Verifier:
    from gatekeeper.audit.checkpoints import verifier_from_settings

    verifier = verifier_from_settings(settings)
    if verifier is None:
        raise ConfigError("audit verify needs the checkpoint public key: set audit.publicKeyFile")
    return verifier


@app.command()
def verify(
    ctx: typer.Context,
    output: TextOrJsonOption = TextOrJson.text,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Check this evidence bundle instead, offline: no database."),
    ] = None,
    trusted_key: Annotated[
        Path | None,
        typer.Option(
            "--trusted-key", help="With --bundle: the public key (PEM) it must be signed with."
        ),
    ] = None,
    witness: Annotated[
        str | None,
        typer.Option(
            "--witness",
            metavar="DIR|FILE|configmap:NS/NAME",
            help="Also hold the log against the checkpoints kept outside the database: a "
            "folder or Git checkout of witness files, a `kubectl get configmaps -o json` export "
            "of a ConfigMap witness, or the ConfigMap itself.",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain and check every checkpoint; exit 1 on any tampering."""
    from gatekeeper.audit.errors import TamperDetected
    from gatekeeper.audit.verify import iter_text, verify_store

    if bundle is not None:
        if witness is not None:
            raise typer.BadParameter("not with --bundle", param_hint="--witness")
        report_command.check_evidence(bundle, trusted_key, output)
        return
    if trusted_key is not None:
        raise typer.BadParameter("only with --bundle", param_hint="--trusted-key")
    settings = state(ctx).settings()
    verifier = _verifier(settings)
    witnessed = None
    if witness is not None:
        from gatekeeper.audit.witness import open_witness

        reader = open_witness(witness, settings)
        try:
            witnessed = reader.read()
        finally:
            reader.close()
    store = open_current_store(settings)
    try:
        report = verify_store(store, verifier, workers=0, witness=witnessed)
    finally:
        store.close()
    if output is TextOrJson.json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        for line in iter_text(report):
            # Findings quote what the database holds: never read as markup.
            console().print(line, markup=False)
    if not report.ok:
        raise TamperDetected(f"the audit store fails verification: {report.summary()}")
    if output is TextOrJson.text:
        console().print(f"[green]ok[/green]: {_verified(report)}", markup=True)


def _verified(report: VerifyReport) -> str:
    """What a clean report vouches for, and what it does not."""
    coverage = report.witness
    uncovered = report.uncovered
    unsigned = (
        ""
        if uncovered is None
        else f"; records {uncovered[0]}..{uncovered[1]} are not covered by a checkpoint"
    )
    if coverage is None:
        return "chain and checkpoints verify" + unsigned
    if coverage.last_seq is None:
        return "chain and checkpoints verify; the witness covers no record" + unsigned
    gap = coverage.not_covered
    text = f"chain, checkpoints and witness verify up to record {coverage.last_seq}"
    if gap is not None:
        text += f"; records {gap[0]}..{gap[1]} are not covered by the witness"
    return text + unsigned


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint over the current chain head now (and write it to `audit.witness`)."""
    from gatekeeper.audit.checkpoints import signer_from_settings
    from gatekeeper.audit.errors import WitnessError
    from gatekeeper.audit.witness import witness_from_settings

    settings = state(ctx).settings()
    signer = signer_from_settings(settings)
    witness = witness_from_settings(settings)
    try:
        store = open_current_store(settings)
        try:
            made = store.checkpoint(signer)
        finally:
            store.close()
        console().print(
            f"checkpoint {made.id}: record {made.seq}, head {made.head_hash[:16]}..., "
            f"key {made.key_id}"
        )
        if witness is None:
            return
        try:
            witness.write(made)
        except WitnessError as exc:
            # The same class, so the exit code still says what went wrong with the witness.
            raise type(exc)(
                f"checkpoint {made.id} is in the database but not in the witness "
                f"{witness.location}: {exc}"
            ) from exc
        console().print(f"witnessed in {witness.location}")
    finally:
        if witness is not None:
            witness.close()


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Folder for the key pair.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing pair.")] = False,
) -> None:
    """Write a new Ed25519 checkpoint key pair (audit-ed25519.pem, audit-ed25519.pub) and, when
    the folder has none, the Secret digest key (secret-digest.key)."""
    from gatekeeper.audit import secret_digest
    from gatekeeper.audit.signing import generate_keypair

    private_path, public_path = generate_keypair(out, overwrite=force)
    console().print(f"wrote {private_path} (keep it outside the database) and {public_path}")
    # Never replaced, even with --force: a new key would make every recorded Secret digest
    # unrecognisable to the webhook.
    digest_key = out / secret_digest.DEFAULT_NAME
    if secret_digest.write_key(digest_key):
        console().print(f"wrote {digest_key} (the Secret digest key; keep it with the pair)")


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
    output: TextOrJsonOption = TextOrJson.text,
) -> None:
    """List audit records matching the filters, a page at a time."""
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
    if output is TextOrJson.json:
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
    from rich.table import Table
    from rich.text import Text

    table = Table("seq", "time", "kind", "actor", "subject", "commit")
    for r in page.records:
        # Text, not strings: a cell is what was recorded (an actor `oidc:[/evil]`), not markup.
        table.add_row(
            str(r.seq),
            r.time.strftime("%Y-%m-%d %H:%M:%S"),
            Text(r.kind),
            Text(r.actor),
            Text(r.subject),
            Text((r.commit or "")[:12]),
        )
    console().print(table)
    if page.next_cursor is not None:
        console().print(f"more: --after {page.next_cursor}")


@app.command()
def bundle(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="The zip file to write.")],
    since: report_command.SinceOption = None,
    until: report_command.UntilOption = None,
    source: report_command.SourceOption = None,
    namespace: report_command.NamespaceOption = None,
    kind: report_command.KindOption = None,
    object_kind: report_command.ObjectKindOption = None,
    actor: report_command.ActorOption = None,
    commit: report_command.CommitOption = None,
    allow_unverified: report_command.AllowUnverifiedOption = False,
) -> None:
    """Write a signed evidence bundle: the period's records, checkpoints and reports.

    Check it anywhere with `gatekeeper audit verify --bundle FILE.zip --trusted-key PUB`.
    Exit 1 when the log is tampered with, or (unless --allow-unverified) when records of the
    period are not covered by a checkpoint.
    """
    filters = report_command.parse_filters(
        since=since,
        until=until,
        source=source,
        namespace=namespace,
        kind=kind,
        object_kind=object_kind,
        actor=actor,
        commit=commit,
    )
    report_command.write_evidence(ctx, output, filters, allow_unverified=allow_unverified)
