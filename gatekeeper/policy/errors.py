"""The policy subpackage's errors, hung under the project's error root."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class PolicyError(GatekeeperError):
    """Root of the errors raised while loading, evaluating or testing policies."""


class PolicyLoadError(PolicyError):
    """A policy set cannot be loaded: bad Rego, bad data, bad template or constraint.

    A gatekeeper refuses to start on it; the message names the file and, for Rego, the line.
    """


class EvaluationError(PolicyError):
    """The engine failed while evaluating a decision (a runtime error in a policy)."""


class EngineUnavailable(PolicyError):
    """The engine cannot be used here: its package is missing or its server is unreachable."""


class PolicyTestsFailed(PolicyError):
    """`policy test` or `policy verify` ran and at least one test failed or errored."""
