"""The one error root of the project; each subpackage hangs its own small tree under it.

What an error means for a run (exit code, label) is decided in one place, the CLI's mapping in
`gatekeeper.cli`; no class here carries an exit code, and none inherits from two branches.
"""


class GatekeeperError(Exception):
    """Base of every error the gatekeeper raises on purpose."""


class ConfigError(GatekeeperError):
    """The configuration file, the environment or the command line is invalid; the message
    names the key or the option."""


class CheckFailed(GatekeeperError):
    """A check ran and its subject failed it (untrusted commit, denial, failed pass)."""
