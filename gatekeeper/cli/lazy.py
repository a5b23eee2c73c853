"""The root command group: a sub-command becomes a click command only when it is used.

Typer turns every registered command into a click command before it parses anything, reading
the annotations of every parameter; for the whole tree that takes about as long as importing
typer. `gatekeeper --help` needs only each command's name and summary, and `gatekeeper verify`
only `verify`, so the root group keeps its sub-commands as declared and converts on demand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter

# A sub-command as declared: a Typer app (a group of commands) or one command function.
Declared: TypeAlias = "typer.Typer | Callable[..., None]"


def summary(declared: Declared) -> str:
    """The first paragraph of a sub-command's help, on one line."""
    text = declared.info.help if isinstance(declared, typer.Typer) else declared.__doc__
    first = inspect.cleandoc(text if isinstance(text, str) else "").split("\n\n", 1)[0]
    return " ".join(first.split())


def to_click(name: str, declared: Declared) -> Command:
    """The click command for one sub-command, as typer would have made it for the root."""
    # A holder like the root: plain help (no rich), no completion options.
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    if isinstance(declared, typer.Typer):
        holder.add_typer(declared, name=name)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[name]
    holder.command(name)(declared)
    return typer.main.get_command(holder)


class _Commands(MutableMapping[str, "Command"]):
    """Sub-commands by name, in the order declared, each converted the first time it is read."""

    def __init__(self, declared: Mapping[str, Declared]) -> None:
        self._names = list(declared)
        self._declared = dict(declared)
        self._converted: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._converted:
            self._converted[name] = to_click(name, self._declared[name])
        return self._converted[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._converted[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._declared.pop(name, None)
        self._converted.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class LazyGroup(TyperGroup):
    """A typer group whose sub-commands (`subcommands`, set by a subclass) convert on demand."""

    subcommands: ClassVar[Mapping[str, Declared]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.subcommands)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = [(name, summary(declared)) for name, declared in self.subcommands.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
