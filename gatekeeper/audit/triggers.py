"""DDL of the append-only triggers, shared by the migrations that create audit tables.

Migrations call these with the table names they create; the statements must stay stable,
because a migration's effect may not change after it has been released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

Execute = Callable[[str], object]

REFUSE_FUNCTION = "gatekeeper_refuse_change"


def create_refuse_function(execute: Execute) -> None:
    """The PostgreSQL trigger function that raises on any change it is attached to."""
    execute(
        f"""
        CREATE FUNCTION {REFUSE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )


def create(execute: Execute, dialect: str, tables: Iterable[str]) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on each table."""
    for table in tables:
        if dialect == "postgresql":
            execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {REFUSE_FUNCTION}()"
            )
            execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {REFUSE_FUNCTION}()"
            )
        else:
            for action in ("UPDATE", "DELETE"):
                execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )


def drop(execute: Execute, dialect: str, tables: Iterable[str]) -> None:
    """Remove what `create` made."""
    for table in tables:
        if dialect == "postgresql":
            execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            for action in ("update", "delete"):
                execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def create_no_replace(execute: Execute, dialect: str, keys: Mapping[str, Sequence[str]]) -> None:
    """On SQLite, refuse an INSERT whose key is already in the table (`keys`: table to its
    key columns).

    `INSERT OR REPLACE` and `REPLACE INTO` resolve the conflict by deleting the old row, and
    that delete fires no DELETE trigger unless the connection doing it turned
    `recursive_triggers` on: the writer, not the store, would decide. A plain duplicate
    INSERT fails on the key anyway; this only gives it the append-only message. PostgreSQL
    has no such path (`ON CONFLICT DO UPDATE` fires the UPDATE trigger), so nothing is made.
    """
    if dialect == "postgresql":
        return
    for table, columns in keys.items():
        match = " AND ".join(f"{column} = NEW.{column}" for column in columns)
        execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: REPLACE refused'); END"
        )


def drop_no_replace(execute: Execute, dialect: str, tables: Iterable[str]) -> None:
    """Remove what `create_no_replace` made."""
    if dialect == "postgresql":
        return
    for table in tables:
        execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
