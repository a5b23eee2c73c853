"""The root group converts a sub-command to click only when that command is used."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.cli.lazy import LazyGroup, summary


def unconvertible(value: Undefined) -> None:  # type: ignore[name-defined]  # noqa: F821
    """Fails to convert: its annotation names nothing.

    So a test sees whether it was converted.
    """


def greet(name: Annotated[str, typer.Option(help="Who.")] = "world") -> None:
    """Say hello."""


tools = typer.Typer(help="A group of tools.\n\nMore about them.")


class Group(LazyGroup):
    subcommands = {"unconvertible": unconvertible, "greet": greet, "tools": tools}  # noqa: RUF012


def test_listing_and_help_convert_nothing() -> None:
    group = Group(name="root")
    ctx = typer.Context(group, info_name="root")
    assert group.list_commands(ctx) == ["unconvertible", "greet", "tools"]
    assert "unconvertible" in group.commands
    formatter = ctx.make_formatter()
    group.format_commands(ctx, formatter)
    help_text = formatter.getvalue()
    assert "Fails to convert: its annotation names nothing." in help_text
    assert "So a test sees" not in help_text
    assert "A group of tools." in help_text


def test_a_command_is_converted_when_it_is_read() -> None:
    group = Group(name="root")
    ctx = typer.Context(group, info_name="root")
    command = group.get_command(ctx, "greet")
    assert command is not None
    assert command.name == "greet"
    assert [param.name for param in command.params] == ["name"]
    assert group.get_command(ctx, "greet") is command
    assert group.get_command(ctx, "missing") is None


def test_the_summary_is_the_first_paragraph_on_one_line() -> None:
    assert summary(unconvertible) == "Fails to convert: its annotation names nothing."
    assert summary(tools) == "A group of tools."
