"""`gatekeeper demo`: the end-to-end scenario on the local control plane and embedded defaults."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gatekeeper.cli.context import narration_console

if TYPE_CHECKING:
    from rich.console import Console

    from gatekeeper.demo.scenario import Outcome

# The dashboard's own default port; another free one is taken when it is in use.
DASHBOARD_PORT = 8080


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
    no_dashboard: Annotated[
        bool,
        typer.Option(
            "--no-dashboard",
            envvar="GATEKEEPER_DEMO_NO_DASHBOARD",
            help="End after the report instead of serving the dashboard until Ctrl-C.",
        ),
    ] = False,
    dashboard_port: Annotated[
        int,
        typer.Option(
            "--dashboard-port",
            min=0,
            max=65535,
            help="Port of the dashboard on 127.0.0.1; another free one when it is taken "
            "(0: any free port).",
        ),
    ] = DASHBOARD_PORT,
    dashboard_only: Annotated[
        bool,
        typer.Option(
            "--dashboard-only",
            help="Serve the dashboard again on the folder of an earlier run, with a new "
            "token, without running the scenario.",
        ),
    ] = False,
) -> None:
    """Run the end-to-end scenario: signed commits, policies, admission, drift, audit, report,
    then serve the auditors' dashboard on the result until Ctrl-C.

    SIGTERM stops it as Ctrl-C does (the command line turns one into the other): what it
    started is stopped before it exits.
    """
    import logging

    from gatekeeper.demo import dashboard, workspace
    from gatekeeper.demo.narration import Narrator
    from gatekeeper.demo.scenario import Scenario

    if dashboard_only and (no_dashboard or keep_cluster):
        raise typer.BadParameter(
            "it runs no scenario, so it goes with neither --no-dashboard nor --keep-cluster",
            param_hint="--dashboard-only",
        )
    # The reconciler and the webhook log at INFO; the story is told by the narration.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    out = narration_console()
    narrator = Narrator(out)
    if dashboard_only:
        folder = workspace.finished(directory)
        out.rule(f"[bold cyan]The dashboard of the demo in {folder}[/bold cyan]", align="left")
        dashboard.serve(
            narrator,
            directory=folder,
            config_file=folder / workspace.CONFIG_FILE,
            port=dashboard_port,
        )
        return
    scenario = Scenario(
        directory=workspace.prepare(directory),
        namespace=namespace,
        narrator=narrator,
        cli=_run_cli,
        keep_cluster=keep_cluster,
    )
    with scenario.running() as outcome:
        _summarize(out, outcome, time.monotonic() - started)
        if not no_dashboard:
            scenario.serve_dashboard(port=dashboard_port)


def _summarize(out: Console, outcome: Outcome, seconds: float) -> None:
    out.print()
    out.rule("[bold green]demo finished[/bold green]", align="left")
    out.print(f"every step behaved as expected in {seconds:.0f} s")
    out.print(f"audit log: {outcome.records} records, verified")
    for fmt, path in outcome.reports.items():
        out.print(f"report ({fmt}): {path}")
    out.print(f"configuration: {outcome.config_file}")
