"""`gatekeeper db`: schema migrations of the audit store."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.cli.context import console, open_store, state
from gatekeeper.errors import ConfigError

app = typer.Typer(help="Audit database schema.", no_args_is_help=True)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (alembic upgrade head)."""
    from gatekeeper.audit import migrate

    settings = state(ctx).settings()
    store = open_store(settings)
    try:
        with store.translated():
            migrate.upgrade(store.engine, revision)
            current = migrate.current_revision(store.engine)
    finally:
        store.close()
    console().print(f"{settings.database.redacted_url()}: schema at revision {current}")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[
        str,
        typer.Argument(
            help="Target revision id; `base` removes every table, the audit log included."
        ),
    ],
    destroy_audit_log: Annotated[
        bool,
        typer.Option(
            "--destroy-audit-log",
            help="Allow `base` or a relative target (-N) while the audit log holds records: "
            "the records and checkpoints are deleted for good.",
        ),
    ] = False,
) -> None:
    """Take the schema down to REVISION.

    While the audit log holds records, only a revision id is accepted: `base` drops the
    append-only log, and a relative target may reach it. --destroy-audit-log overrides this.
    """
    from gatekeeper.audit import migrate

    settings = state(ctx).settings()
    store = open_store(settings)
    try:
        with store.translated():
            if not destroy_audit_log and _may_drop_the_log(revision):
                records = store.count() if migrate.current_revision(store.engine) else 0
                if records:
                    raise ConfigError(
                        f"refusing to downgrade to {revision!r}: it may drop the audit log "
                        f"({records} records) or the provenance ledger its records vouch for; "
                        "give a revision id from 0002 on (see `gatekeeper db current`), or "
                        "--destroy-audit-log to delete them for good"
                    )
            if not destroy_audit_log and _drops_vouching(revision):
                vouched = migrate.vouched_ledger_rows(store.engine)
                if vouched:
                    raise ConfigError(
                        f"refusing to downgrade to {revision!r}: it drops the link from "
                        f"{vouched} provenance ledger row(s) to the audit records that vouch "
                        "for them, which an upgrade cannot restore: `audit verify` would then "
                        "report every one of them as forged and the webhook would refuse "
                        "them; give a revision id from 0004 on, or --destroy-audit-log to "
                        "break the ledger's vouching for good"
                    )
            migrate.downgrade(store.engine, revision)
            current = migrate.current_revision(store.engine)
    finally:
        store.close()
    console().print(f"{settings.database.redacted_url()}: schema at revision {current or 'base'}")


# The first revisions, each of which creates an append-only part of the store: the log
# (0001), then the provenance ledger its records vouch for (0002).
_APPEND_ONLY_FROM = ("0001", "0002")


def _may_drop_the_log(revision: str) -> bool:
    """Whether a downgrade to `revision` may remove a migration that creates an append-only
    table: `base` removes them all, a relative target (`-2`, `0003-2`) may reach them, and
    `0001` removes the provenance ledger. A later revision id keeps both."""
    target = revision.strip().lower()
    return (
        target == "base" or any(sign in target for sign in "-+@:") or target == _APPEND_ONLY_FROM[0]
    )


# The revisions before ledger vouching (0004): the ledger rows keep no `vouch_seq` there.
_BEFORE_VOUCHING = ("0002", "0003")


def _drops_vouching(revision: str) -> bool:
    """Whether a downgrade to `revision` (a revision id `_may_drop_the_log` lets through)
    removes ledger vouching."""
    return revision.strip().lower() in _BEFORE_VOUCHING


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the configured database."""
    from gatekeeper.audit import migrate

    settings = state(ctx).settings()
    store = open_store(settings)
    try:
        with store.translated():
            revision = migrate.current_revision(store.engine)
    finally:
        store.close()
    console().print(revision or "base")
