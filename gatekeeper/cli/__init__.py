"""The `gatekeeper` command: global options, sub-commands, and exit codes decided in one place.

The command modules import only typer and the standard library when they load; each command
imports what it needs (SQLAlchemy, FastAPI, GitPython, the Kubernetes client) when it runs, and
typer reads a command's parameters only when that command is used (`gatekeeper.cli.lazy`), so
`gatekeeper --help` lists everything without loading any of it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import typer

from gatekeeper import __version__
from gatekeeper.cli import audit, db, devcluster, serve, signals
from gatekeeper.cli import dashboard as dashboard_command
from gatekeeper.cli import demo as demo_command
from gatekeeper.cli import policy as policy_cli
from gatekeeper.cli import reconcile as reconcile_cli
from gatekeeper.cli import report as report_command
from gatekeeper.cli import verify as verify_command
from gatekeeper.cli import webhook as webhook_cli
from gatekeeper.cli.context import CliState
from gatekeeper.cli.lazy import Declared, LazyGroup
from gatekeeper.errors import GatekeeperError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


@dataclass(frozen=True)
class Outcome:
    """What an error means for a run: its exit code and the word its message starts with."""

    code: int
    label: str


FAILED = Outcome(EXIT_CHECK_FAILED, "failed")
INVALID = Outcome(EXIT_USAGE, "configuration error")
UNAVAILABLE = Outcome(EXIT_UNAVAILABLE, "unavailable")
ERROR = Outcome(EXIT_CHECK_FAILED, "error")

# The one table from error class to outcome (docs/cli.md shows it). An error takes the entry of
# the nearest class in its MRO. Classes are named rather than imported, so that mapping an error
# loads nothing: the policy and provenance packages take a quarter of a second to import.
# tests/unit/cli/test_exits.py checks that every name is a class of the tree.
OUTCOMES: dict[str, Outcome] = {
    "gatekeeper.errors.GatekeeperError": ERROR,
    # The check ran and its subject failed it.
    "gatekeeper.errors.CheckFailed": FAILED,
    "gatekeeper.audit.errors.TamperDetected": FAILED,
    "gatekeeper.audit.errors.WitnessConflict": FAILED,
    "gatekeeper.policy.errors.PolicyTestsFailed": FAILED,
    "gatekeeper.reconcile.errors.RollbackRefused": FAILED,
    "gatekeeper.provenance.errors.HistoryRewritten": FAILED,
    "gatekeeper.demo.errors.DemoFailed": FAILED,
    "gatekeeper.report.errors.ReportNotVerified": FAILED,
    "gatekeeper.report.errors.SignatureInvalid": FAILED,
    "gatekeeper.report.errors.BundleInvalid": FAILED,
    # The command line, the configuration or a file it names is wrong.
    "gatekeeper.errors.ConfigError": INVALID,
    "gatekeeper.audit.errors.SchemaMissing": INVALID,
    "gatekeeper.audit.errors.SigningKeyError": INVALID,
    "gatekeeper.audit.errors.WitnessError": INVALID,
    "gatekeeper.admission.errors.ForeignSecret": INVALID,
    "gatekeeper.policy.errors.PolicyLoadError": INVALID,
    "gatekeeper.provenance.errors.TrustPolicyError": INVALID,
    "gatekeeper.provenance.errors.RepositoryError": INVALID,
    "gatekeeper.report.errors.FilterError": INVALID,
    # The check could not run: something it depends on cannot be reached.
    "gatekeeper.audit.errors.StoreUnavailable": UNAVAILABLE,
    "gatekeeper.audit.errors.WitnessUnavailable": UNAVAILABLE,
    "gatekeeper.policy.errors.EngineUnavailable": UNAVAILABLE,
    "gatekeeper.reconcile.errors.SourceUnavailable": UNAVAILABLE,
    "gatekeeper.report.errors.FontMissing": UNAVAILABLE,
}


def outcome(error: GatekeeperError) -> Outcome:
    """The outcome of a run that ended with `error`."""
    from gatekeeper.kube.errors import KubeError

    # The Kubernetes API's errors say themselves whether trying later may succeed (unreachable,
    # throttled, failing); then the check did not run.
    if isinstance(error, KubeError) and error.transient:
        return UNAVAILABLE
    for cls in type(error).__mro__:
        found = OUTCOMES.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    return ERROR


class _Commands(LazyGroup):
    """The sub-commands of `gatekeeper`, in the order `--help` lists them."""

    subcommands: ClassVar[Mapping[str, Declared]] = {
        "serve": serve.serve,
        "webhook": webhook_cli.app,
        "dashboard": dashboard_command.dashboard,
        "reconcile": reconcile_cli.reconcile,
        "rollback": reconcile_cli.rollback,
        "status": reconcile_cli.status,
        "verify": verify_command.verify,
        "policy": policy_cli.app,
        "report": report_command.report,
        "audit": audit.app,
        "db": db.app,
        "dev-cluster": devcluster.app,
        "demo": demo_command.demo,
    }


# Help is plain text: rendering it with rich would import rich, which costs more than typer.
app = typer.Typer(
    name="gatekeeper",
    cls=_Commands,
    help="Only signed, policy-compliant Git changes reach the cluster; every step is audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


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
    """Run the CLI; the exit code of DESIGN section 4, and the reason on standard error.

    SIGTERM interrupts a command as Ctrl-C does (`signals.as_ctrl_c`): it cleans up the same
    way and exits 130, unless the command stops in a way of its own (the servers and the
    reconciler stop cleanly and exit 0).
    """
    try:
        with signals.as_ctrl_c():
            app(args=argv, prog_name="gatekeeper", standalone_mode=True)
    except SystemExit as exc:
        # The parser's own ways out: 0 after --help or --version, 2 for a usage error.
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_CHECK_FAILED
    except GatekeeperError as exc:
        found = outcome(exc)
        print_error(found.label, str(exc))
        return found.code
    return EXIT_OK


def print_error(label: str, message: str) -> None:
    """`label: message` on standard error, the message exactly as given.

    Error messages carry user text (Rego source lines with `[c.name]`, paths, quotes,
    backslashes), so nothing here interprets it: no markup, no tab expansion, no wrapping,
    which would hide text or move the caret under a source line. Only the label is coloured,
    and only on a terminal.
    """
    stream = sys.stderr
    coloured = stream.isatty() and not os.environ.get("NO_COLOR")
    head = f"\x1b[31m{label}:\x1b[0m" if coloured else f"{label}:"
    stream.write(f"{head} {message}\n")
    stream.flush()


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
