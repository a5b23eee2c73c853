"""How the demo tells its story: a heading per step, what happened, what was recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from gatekeeper.audit.events import Record
from gatekeeper.demo.errors import DemoFailed


def _short(value: str | None) -> str:
    if not value:
        return "-"
    return value[:12] if len(value) == 40 else value


def _note(record: Record) -> str:
    payload = record.payload
    if payload.get("dry_run"):
        return "dry run"
    if record.kind == "breakglass":
        return str(payload.get("break_glass_reason") or "")
    return ""


@dataclass
class Narrator:
    """Prints each step and checks its outcome; a failed expectation stops the demo."""

    console: Console
    steps: list[str] = field(default_factory=list)

    def step(self, number: int, title: str, what: str) -> None:
        self.steps.append(title)
        self.console.print()
        self.console.rule(f"[bold cyan]Step {number}: {title}[/bold cyan]", align="left")
        self.console.print(what)

    def say(self, text: str) -> None:
        self.console.print(f"  {text}")

    def command(self, argv: Sequence[str]) -> None:
        shown = " ".join(a for a in argv if a != "--config")
        self.console.print(f"  [dim]$ gatekeeper {shown}[/dim]")

    def decided(self, text: str) -> None:
        self.console.print(f"  [bold]gatekeeper decided:[/bold] {text}")

    def quote(self, title: str, text: str) -> None:
        self.console.print(f"  [yellow]{title}:[/yellow]")
        self.console.print(Padding(Text(text), (0, 0, 0, 4)), soft_wrap=False)

    def ok(self, text: str) -> None:
        self.console.print(f"  [green]✔[/green] {text}")

    def expect(self, condition: bool, failure: str) -> None:
        """Stop the demo with `failure` unless `condition` holds."""
        if not condition:
            self.fail(failure)

    def fail(self, failure: str) -> NoReturn:
        self.console.print(f"  [bold red]✘ {failure}[/bold red]")
        raise DemoFailed(failure)

    def records(self, records: Sequence[Record]) -> None:
        """The audit records a step added, with their sequence numbers."""
        if not records:
            self.say("[dim](no new audit records)[/dim]")
            return
        table = Table(title="audit log", title_justify="left", show_edge=False, pad_edge=False)
        for column in ("seq", "kind", "actor", "subject", "commit", "note"):
            table.add_column(column, overflow="fold")
        for record in records:
            table.add_row(
                str(record.seq),
                record.kind,
                record.actor,
                record.subject,
                _short(record.commit),
                _note(record),
            )
        self.console.print(table)
