"""Database adapter: engines for SQLite and PostgreSQL, and the per-chain write lock."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from gatekeeper.errors import ConfigError

# pg_advisory_xact_lock key of the one audit chain ("gkaudit" in ASCII).
CHAIN_LOCK_KEY: Final = 0x676B6175646974
_IMMEDIATE: Final = "gatekeeper_sqlite_immediate"
# How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final = 60_000


def create_database_engine(
    url: str, *, pool_size: int = 5, sqlite_synchronous: str = "full"
) -> Engine:
    """An engine with the settings the audit store relies on, for SQLite or PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database.url: not a valid database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 60})
            _configure_sqlite(engine, synchronous=sqlite_synchronous)
            return engine
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            return create_engine(
                parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database.url: no driver for {parsed.drivername}: {exc}") from exc
    raise ConfigError(f"database.url: {backend} is not supported; use sqlite or postgresql")


def _configure_sqlite(engine: Engine, *, synchronous: str) -> None:
    if synchronous not in ("full", "normal"):
        raise ConfigError(f"database.sqliteSynchronous: {synchronous!r} is not full or normal")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's begin event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL (the default): a commit survives power loss. NORMAL, in WAL mode: it survives
        # the process but not the machine crashing; no flush per commit.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(connection: Connection) -> Connection:
    """The connection set up so that its next transaction takes the chain's write lock early."""
    if connection.dialect.name == "sqlite":
        return connection.execution_options(**{_IMMEDIATE: True})
    return connection


def lock_chain(connection: Connection) -> None:
    """Serialise appenders: in the open transaction, wait for the chain's lock.

    On SQLite the IMMEDIATE transaction of `writer` already holds the database's write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
