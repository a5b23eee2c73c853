"""`python -m gatekeeper.cli`: the same command as the `gatekeeper` console script."""

from gatekeeper.cli import run

run()
