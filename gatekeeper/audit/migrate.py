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
from sqlalchemy import Engine

from gatekeeper.audit.errors import AuditError, SchemaMissing


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


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise AuditError("no migrations found")
    return head


def require_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is older than this release's."""
    current = current_revision(engine)
    if current != head_revision():
        raise SchemaMissing(
            f"the audit schema is at revision {current or 'none'}, this release needs "
            f"{head_revision()}; run `gatekeeper db upgrade`"
        )
