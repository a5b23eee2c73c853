"""The `gatekeeper` command: global options, sub-commands, and exit codes decided in one place."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper import __version__
from gatekeeper.cli import audit, db, devcluster, serve
from gatekeeper.cli import demo as demo_command
from gatekeeper.cli import policy as policy_cli
from gatekeeper.cli import reconcile as reconcile_cli
from gatekeeper.cli import report as report_command
from gatekeeper.cli import verify as verify_command
from gatekeeper.cli.context import CliState, console_err
from gatekeeper.errors import CheckFailed, ConfigError, GatekeeperError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="gatekeeper",
    help="Only signed, policy-compliant Git changes reach the cluster; every step is audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(policy_cli.app, name="policy")
app.command("verify")(verify_command.verify)
app.command("report")(report_command.report)
app.add_typer(devcluster.app, name="dev-cluster")
app.command(name="serve")(serve.serve)
reconcile_cli.register(app)
app.command("demo")(demo_command.demo)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"gatekeeper {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="GATEKEEPER_CONFIG",
            help="YAML configuration file (DESIGN section 10).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = CliState(config_file=config)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map the error tree onto DESIGN section 4's exit codes."""
    try:
        app(args=argv, prog_name="gatekeeper", standalone_mode=True)
    except SystemExit as exc:
        # Usage errors arrive here from the parser with code 2, as DESIGN section 4 wants.
        return exc.code if isinstance(exc.code, int) else EXIT_CHECK_FAILED
    except ConfigError as exc:
        console_err.print(f"[red]configuration error:[/red] {exc}", markup=True)
        return EXIT_USAGE
    except CheckFailed as exc:
        console_err.print(f"[red]failed:[/red] {exc}", markup=True)
        return EXIT_CHECK_FAILED
    except GatekeeperError as exc:
        console_err.print(f"[red]error:[/red] {exc}", markup=True)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
