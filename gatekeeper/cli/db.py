"""`gatekeeper db`: schema migrations of the audit store."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.cli.context import console, open_store, state

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
    revision: Annotated[str, typer.Argument(help="Target revision; `base` removes everything.")],
) -> None:
    """Take the schema down to REVISION."""
    from gatekeeper.audit import migrate

    settings = state(ctx).settings()
    store = open_store(settings)
    try:
        with store.translated():
            migrate.downgrade(store.engine, revision)
            current = migrate.current_revision(store.engine)
    finally:
        store.close()
    console().print(f"{settings.database.redacted_url()}: schema at revision {current or 'base'}")


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
