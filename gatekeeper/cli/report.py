"""`gatekeeper report`: a signed compliance report; and the bodies of `audit bundle` and
`audit verify --bundle`, which share its filters.

Exit codes (through the CLI's one table): 0 when the report is verified and signed; 1 when
the log is tampered with (always), or when what the report covers is not verified or the
report is unsigned (unless `--allow-unverified`); 2 for a bad filter or configuration; 3 when
the PDF font is missing. The report is written in every case but 2 and 3, and says the same
thing itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import typer

from gatekeeper.cli import outfiles
from gatekeeper.cli.context import console, console_err, open_current_store, state
from gatekeeper.cli.options import ReportFormat, ReportFormatOption, TextOrJson
from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from gatekeeper.audit.signing import Signer
    from gatekeeper.report.filters import ReportFilters
    from gatekeeper.report.integrity import Integrity
    from gatekeeper.settings import Settings

SinceOption = Annotated[
    str | None,
    typer.Option(help="Start of the period, inclusive (ISO 8601, UTC when no zone is given)."),
]
UntilOption = Annotated[str | None, typer.Option(help="End of the period, exclusive (UTC).")]
SourceOption = Annotated[
    str | None, typer.Option(help="Only this Git source's records (it must be in the log).")
]
NamespaceOption = Annotated[str | None, typer.Option(help="Only records about this namespace.")]
KindOption = Annotated[
    list[str] | None, typer.Option("--kind", help="Only this event kind (repeat for several).")
]
ObjectKindOption = Annotated[
    str | None, typer.Option("--object-kind", help="Only records about this Kubernetes kind.")
]
ActorOption = Annotated[str | None, typer.Option(help="Only records by this actor.")]
CommitOption = Annotated[str | None, typer.Option(help="Only records of this full commit SHA.")]
AllowUnverifiedOption = Annotated[
    bool,
    typer.Option(
        "--allow-unverified",
        help="Exit 0 even when what the file covers is not verified or it is unsigned "
        "(it says so itself). A tampered log still exits 1.",
    ),
]


def parse_filters(
    *,
    since: str | None,
    until: str | None,
    source: str | None,
    namespace: str | None,
    kind: list[str] | None,
    object_kind: str | None,
    actor: str | None,
    commit: str | None,
) -> ReportFilters:
    """The filters of the command line; `FilterError` (exit 2) names a bad option."""
    from gatekeeper.report.filters import ReportFilters

    return ReportFilters.parse(
        since=since,
        until=until,
        source=source,
        namespace=namespace,
        kinds=kind,
        object_kind=object_kind,
        actor=actor,
        commit=commit,
    )


def report(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: ReportFormatOption = ReportFormat.json,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    namespace: NamespaceOption = None,
    kind: KindOption = None,
    object_kind: ObjectKindOption = None,
    actor: ActorOption = None,
    commit: CommitOption = None,
    rows: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per section in HTML and PDF.")
    ] = 200,
    allow_unverified: AllowUnverifiedOption = False,
) -> None:
    """Write a compliance report, signed beside it as FILE.sig.

    It states its filters, the log's integrity (verified, not-verified or tampered), the
    checkpoint that covers it and how to check it. Exit 1 unless verified and signed.
    """
    from gatekeeper.audit.checkpoints import verifier_from_settings
    from gatekeeper.report.model import build_report
    from gatekeeper.report.render import write
    from gatekeeper.report.signing import DigestWriter, sign_digest, signature_path

    filters = parse_filters(
        since=since,
        until=until,
        source=source,
        namespace=namespace,
        kind=kind,
        object_kind=object_kind,
        actor=actor,
        commit=commit,
    )
    cli_state = state(ctx)
    settings = cli_state.settings()
    outfiles.check_output(
        output, settings, config_file=cli_state.config_file, also=[signature_path(output)]
    )
    signer = configured_signer(settings)
    verifier = verifier_from_settings(settings)
    store = open_current_store(settings)
    try:
        built = build_report(
            store,
            filters,
            verifier=verifier,
            signing_key_id=None if signer is None else signer.key_id,
            row_limit=rows,
            workers=0,
        )
        with _replacing(output) as handle:
            digest = DigestWriter(handle)
            write(built, fmt.value, digest)
    finally:
        store.close()
    signed = ""
    if signer is not None:
        signature = sign_digest(digest.sha256, digest.size, signer)
        signature_path(output).write_bytes(signature.to_bytes())
        signed = f", signed as {signature_path(output)}"
    _record(
        settings,
        signer,
        what="report",
        filters=filters,
        records=built.period.count,
        integrity=built.integrity.status,
        files={output.name: {"sha256": digest.sha256, "size": digest.size, "format": fmt.value}},
    )
    console().print(
        f"wrote {output} ({built.period.count} events, {fmt.value}{signed}); "
        f"integrity: {built.integrity.status}"
    )
    settle(built.integrity, signed=signer is not None, allow_unverified=allow_unverified)


def _record(
    settings: Settings,
    signer: Signer | None,
    *,
    what: Literal["report", "bundle"],
    filters: ReportFilters,
    records: int,
    integrity: str,
    files: dict[str, dict[str, Any]],
) -> None:
    """Record the file made as `report.generated` (the OS user as actor), then checkpoint."""
    import getpass
    from datetime import UTC, datetime

    from gatekeeper.report import recording

    event = recording.generated(
        what=what,
        ident=recording.new_id(datetime.now(UTC)),
        actor=getpass.getuser(),
        via="cli",
        filters=filters,
        records=records,
        integrity=integrity,
        key_id=None if signer is None else signer.key_id,
        files=files,
    )
    from gatekeeper.audit.witness import witness_from_settings

    store = open_current_store(settings)
    witness = witness_from_settings(settings)
    try:
        recording.record_made(store, event, signer, witness)
    finally:
        store.close()
        if witness is not None:
            witness.close()


def configured_signer(settings: Settings) -> Signer | None:
    """The audit signing key when one is configured; a configured key that cannot be loaded
    is a configuration error, not an unsigned report."""
    from gatekeeper.audit.checkpoints import signer_from_settings

    if settings.audit.signing_key is None and settings.audit.signing_key_file is None:
        return None
    return signer_from_settings(settings)


def settle(integrity: Integrity, *, signed: bool, allow_unverified: bool) -> None:
    """The exit of a command that wrote a report: tampering always fails it; anything short of
    verified and signed fails it unless allowed, and is said plainly either way."""
    from gatekeeper.audit.errors import TamperDetected
    from gatekeeper.report.errors import ReportNotVerified

    if integrity.tampered:
        raise TamperDetected(
            f"the audit log fails verification: first bad record {integrity.first_bad_seq}"
        )
    problems = list(integrity.reasons)
    if not signed:
        problems.append("The file is not signed: set audit.signingKeyFile.")
    if not problems:
        return
    if not allow_unverified:
        raise ReportNotVerified(
            "not verified: " + " ".join(problems) + " (--allow-unverified accepts this)"
        )
    console_err().print("not verified: " + " ".join(problems), markup=False)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside `path` that replaces it once written whole.

    `outfiles.check_output` has refused the paths it must never replace.
    """
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"-o {path}: cannot write there: {exc.strerror}") from exc
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_evidence(
    ctx: typer.Context, output: Path, filters: ReportFilters, *, allow_unverified: bool
) -> None:
    """`gatekeeper audit bundle`: the signed evidence bundle of `filters` at `output`."""
    from gatekeeper.audit.checkpoints import signer_from_settings, verifier_from_settings
    from gatekeeper.report.bundle import write_bundle

    cli_state = state(ctx)
    settings = cli_state.settings()
    outfiles.check_output(output, settings, config_file=cli_state.config_file)
    signer = signer_from_settings(settings)
    verifier = verifier_from_settings(settings)
    store = open_current_store(settings)
    try:
        made = write_bundle(store, filters, output, signer=signer, verifier=verifier, workers=0)
    finally:
        store.close()
    _record(
        settings,
        signer,
        what="bundle",
        filters=filters,
        records=made.records,
        integrity=made.report.integrity.status,
        files={"MANIFEST.json": {"sha256": made.manifest_sha256}},
    )
    span = "no records" if made.first_seq is None else f"records {made.first_seq}..{made.last_seq}"
    console().print(
        f"wrote {output}: {span}, {made.checkpoints} checkpoint(s), "
        f"{made.report.period.count} in the report; integrity: {made.report.integrity.status}; "
        f"signed with {made.key_id}"
    )
    settle(made.report.integrity, signed=True, allow_unverified=allow_unverified)


def check_evidence(bundle: Path, trusted_key: Path | None, output: TextOrJson) -> None:
    """`gatekeeper audit verify --bundle`: no configuration, no database, no network."""
    from gatekeeper.audit.signing import load_verifier
    from gatekeeper.report.bundle import verify_bundle
    from gatekeeper.report.errors import BundleInvalid

    trusted = None if trusted_key is None else load_verifier(trusted_key)
    try:
        checked = verify_bundle(bundle, trusted)
    except BundleInvalid as exc:
        if output is TextOrJson.json:
            typer.echo(json.dumps({"ok": False, "problems": list(exc.problems)}, indent=2))
        else:
            for problem in exc.problems:
                console().print(problem, markup=False)
        raise
    summary = {
        "ok": True,
        "key_id": checked.key_id,
        "trusted_key": trusted is not None,
        "records": checked.records,
        "first_seq": checked.first_seq,
        "last_seq": checked.last_seq,
        "checkpoints": checked.checkpoints,
        "covered_to": checked.covered_to,
        "filters": checked.manifest.get("filters"),
    }
    if output is TextOrJson.json:
        typer.echo(json.dumps(summary, indent=2))
        return
    span = "no records" if checked.first_seq is None else f"{checked.first_seq}..{checked.last_seq}"
    who = "the trusted key" if trusted is not None else "the key it carries (not pinned)"
    console().print(
        f"ok: {checked.records} records ({span}) link and hash, {checked.checkpoints} "
        f"checkpoint(s) cover them, every file matches MANIFEST.json, signed by {who} "
        f"{checked.key_id}",
        markup=False,
    )
