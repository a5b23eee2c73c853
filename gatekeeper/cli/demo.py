"""`gatekeeper demo`: the end-to-end scenario on the local control plane and embedded defaults."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli.context import console


def _run_cli(argv: Sequence[str]) -> int:
    # The root CLI imports this module, so it is reached at call time, not import time.
    from gatekeeper.cli import main

    return main(list(argv))


def demo(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Folder for everything the demo makes; wiped at each run."),
    ] = Path(".demo"),
    keep_cluster: Annotated[
        bool,
        typer.Option("--keep-cluster", help="Leave the control plane running afterwards."),
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", help="Namespace (and source name) of the demo app.")
    ] = "shop",
) -> None:
    """Run the end-to-end scenario: signed commits, policies, admission, drift, audit, report."""
    import logging

    from gatekeeper.demo import workspace
    from gatekeeper.demo.narration import Narrator
    from gatekeeper.demo.scenario import Scenario

    # The reconciler and the webhook log at INFO; the story is told by the narration.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    folder = workspace.prepare(directory)
    out = console()
    scenario = Scenario(
        directory=folder,
        namespace=namespace,
        narrator=Narrator(out),
        cli=_run_cli,
        keep_cluster=keep_cluster,
    )
    outcome = scenario.run()
    out.print()
    out.rule("[bold green]demo finished[/bold green]", align="left")
    out.print(f"every step behaved as expected in {time.monotonic() - started:.0f} s")
    out.print(f"audit log: {outcome.records} records, verified")
    for fmt, path in outcome.reports.items():
        out.print(f"report ({fmt}): {path}")
    out.print(f"configuration: {outcome.config_file}")
