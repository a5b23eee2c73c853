"""The policy subpackage's errors, hung under the project's error root."""

from __future__ import annotations

from gatekeeper.errors import CheckFailed, ConfigError, GatekeeperError


class PolicyError(GatekeeperError):
    """Base of the errors raised while loading or evaluating policies."""


class PolicyLoadError(ConfigError, PolicyError):
    """A policy set cannot be loaded: bad Rego, bad data, bad template or constraint.

    It is a `ConfigError`, so a gatekeeper refuses to start on it (exit code 2); the message
    names the file and, for Rego, the line.
    """


class EvaluationError(PolicyError):
    """The engine failed while evaluating a decision (a runtime error in a policy)."""


class EngineUnavailable(PolicyError):
    """The engine cannot be used here: its package is missing or its server is unreachable."""


class PolicyTestsFailed(CheckFailed):
    """`policy test` or `policy verify` ran and at least one test failed or errored."""
