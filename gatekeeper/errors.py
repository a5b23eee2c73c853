"""The one error root of the project; subpackages hang their own small trees under it."""


class GatekeeperError(Exception):
    """Base of every error the gatekeeper raises on purpose."""


class ConfigError(GatekeeperError):
    """The configuration file or environment is invalid; the message names the key."""


class CheckFailed(GatekeeperError):
    """A check ran and its subject failed it (untrusted commit, denial, tampering)."""
