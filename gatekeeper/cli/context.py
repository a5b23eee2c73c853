"""State shared by the CLI commands: the config file given once, settings built on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console

from gatekeeper.audit import migrate
from gatekeeper.audit.store import AuditStore
from gatekeeper.settings import Settings, load_settings

console = Console(highlight=False, soft_wrap=True)
console_err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class CliState:
    config_file: Path | None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The CLI state of the root command, wherever in the tree `ctx` is."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState(config_file=None)
    return root.obj


def open_current_store(settings: Settings) -> AuditStore:
    """The configured audit store, refused (and closed) unless its schema is current."""
    store = AuditStore.from_settings(settings)
    try:
        migrate.require_current(store.engine)
    except BaseException:
        store.close()
        raise
    return store
