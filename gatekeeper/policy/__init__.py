"""Rego policies: engines, policy sets, Gatekeeper templates, decisions, and test runners.

The reconciler and the webhook use the same few names:

    evaluator = build_evaluator(settings, reporter=store_reporter)   # refuses a bad set
    decision = evaluator.evaluate(sync_input(manifest, provenance=...))
    decision = evaluator.evaluate(admission_input(request, provenance=...))
"""

from gatekeeper.policy.decision import Decision, Message
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.errors import EvaluationError, PolicyError, PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator, ReloadReporter, build_evaluator
from gatekeeper.policy.inputs import Provenance, admission_input, sync_input
from gatekeeper.policy.policyset import load_policy_set

__all__ = [
    "Decision",
    "EvaluationError",
    "Message",
    "PolicyError",
    "PolicyEvaluator",
    "PolicyLoadError",
    "Provenance",
    "ReloadReporter",
    "admission_input",
    "build_evaluator",
    "create_engine",
    "load_policy_set",
    "sync_input",
]
