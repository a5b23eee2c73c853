"""State shared by the CLI commands: the config file given once, settings and consoles on demand.

Nothing heavy is imported here: `gatekeeper --help` loads this module, and settings
(pydantic), the audit store (SQLAlchemy) and rich load only when a command asks for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from gatekeeper.audit.store import AuditStore
    from gatekeeper.settings import Settings


# Results and progress carry text others chose: committed file names, actors from admission
# requests, error messages. Rich markup (`[bold]`, `[/x]`) or emoji codes (`:x:`) in it would
# hide parts of it or end the command in a traceback, so both consoles print text as it is;
# a call that styles text says so with `markup=True` and escapes what it puts in, or prints
# `rich.text.Text`.


@functools.cache
def console() -> Console:
    """Standard output, for results."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


@functools.cache
def console_err() -> Console:
    """Standard error, for progress and the reason a command failed."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def narration_console() -> Console:
    """Standard output with markup, for the demo's narration: text the demo writes itself."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@dataclass
class CliState:
    config_file: Path | None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from gatekeeper.settings import load_settings

            self._settings = load_settings(self.config_file)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The CLI state of the root command, wherever in the tree `ctx` is."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(config_file=None)
    return root.obj


def open_store(settings: Settings) -> AuditStore:
    """The configured audit store, whatever its schema (for `db` and the long-running commands)."""
    from gatekeeper.audit.store import AuditStore

    return AuditStore.from_settings(settings)


def open_current_store(settings: Settings) -> AuditStore:
    """The configured audit store, refused (and closed) unless its schema is current.

    A database that cannot be reached is `StoreUnavailable`, not a traceback.
    """
    from gatekeeper.audit import migrate

    store = open_store(settings)
    try:
        with store.translated():
            migrate.require_current(store.engine)
    except BaseException:
        store.close()
        raise
    return store
