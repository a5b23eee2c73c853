"""Schema migrations through Alembic, run as a separate step and never at import."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect, text

from gatekeeper.audit import schema
from gatekeeper.audit.errors import AuditError, SchemaDamaged, SchemaMissing


def migrations_dir() -> Path:
    """`migrations/` of a source checkout, or the copy packed into the wheel."""
    packed = Path(str(resources.files("gatekeeper"))) / "_migrations"
    if packed.is_dir():
        return packed
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if checkout.is_dir():
        return checkout
    raise AuditError("the migrations folder is missing from this installation")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema down to `revision` (`base` removes every table)."""
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            step(config, revision)
        except CommandError as exc:
            raise AuditError(f"migration failed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def vouched_ledger_rows(engine: Engine) -> int:
    """How many provenance ledger rows name the record that vouches for them: rows that
    revision 0004's downgrade would cut from their record for good (0 before 0004)."""
    if current_revision(engine) in (None, "0001", "0002", "0003"):
        return 0
    with engine.connect() as connection:
        return sum(
            int(
                connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE vouch_seq IS NOT NULL")
                ).scalar_one()
            )
            for table in ("verified_commits", "desired_objects")
        )


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise AuditError("no migrations found")
    return head


def known_revisions() -> set[str]:
    """Every revision this release's migrations know."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def require_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not this release's, or is damaged.

    A revision this release does not know was written by a newer one: upgrading cannot help.
    At the right revision, every table and column of the store must be there; one that is
    gone was removed outside gatekeeper, which no setup step repairs.
    """
    current, head = current_revision(engine), head_revision()
    if current is not None and current != head and current not in known_revisions():
        raise SchemaMissing(
            f"the audit schema is at revision {current}, newer than this release's {head}: "
            "the database was upgraded by a newer gatekeeper release; run that release"
        )
    if current != head:
        raise SchemaMissing(
            f"the audit schema is at revision {current or 'none'}, this release needs "
            f"{head}; run `gatekeeper db upgrade`"
        )
    _require_tables(engine)


def _require_tables(engine: Engine) -> None:
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    for table in schema.Base.metadata.sorted_tables:
        if table.name not in present:
            raise SchemaDamaged(
                f"the audit schema is damaged: table {table.name} is missing although the "
                f"schema is at revision {head_revision()}; it was dropped outside gatekeeper"
            )
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted(column.name for column in table.columns if column.name not in columns)
        if missing:
            raise SchemaDamaged(
                f"the audit schema is damaged: table {table.name} has no column "
                f"{', '.join(missing)}; it was altered outside gatekeeper"
            )
