"""The CLI starts fast: loading it, and `--help`, import none of the heavy libraries.

(Typer itself loads pydantic to read the options of a command it runs, so a group's help
loads pydantic too; the root's help and the import do not.)
"""

from __future__ import annotations

import json
import subprocess
import sys

# The libraries the commands need, each a tenth of a second or more to import. Settings
# (pydantic-settings) and rich load only in a command that runs.
HEAVY = (
    "fastapi", "uvicorn", "sqlalchemy", "alembic", "kubernetes", "git", "regorus", "jinja2",
    "pydantic_settings", "rich",
)  # fmt: skip
COMMANDS = (
    "verify", "report", "serve", "reconcile", "rollback", "status", "demo",
    "dashboard", "db", "audit", "policy", "dev-cluster", "webhook",
)  # fmt: skip


def _loaded_after(code: str) -> tuple[list[str], str]:
    probe = (
        "import contextlib, io, json, sys\n"
        "out = io.StringIO()\n"
        f"with contextlib.redirect_stdout(out):\n    {code}\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps({'heavy': heavy, 'out': out.getvalue()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    return result["heavy"], result["out"]


def test_importing_the_cli_loads_no_heavy_library() -> None:
    heavy, _ = _loaded_after("import gatekeeper.cli")
    assert heavy == []


def test_help_lists_every_command_with_its_help_and_loads_no_heavy_library() -> None:
    heavy, out = _loaded_after("from gatekeeper.cli import main; main(['--help'])")
    assert heavy == []
    listed = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    for command in COMMANDS:
        assert command in listed
        assert len(listed[command].split()) > 1, f"{command} has no help text"


def test_a_groups_help_loads_no_heavy_library() -> None:
    for group in ("audit", "db", "policy", "dev-cluster", "webhook"):
        heavy, out = _loaded_after(f"from gatekeeper.cli import main; main([{group!r}, '--help'])")
        assert heavy == [], group
        assert "Commands:" in out


def test_the_module_runs_as_the_console_script_does() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("gatekeeper ")
