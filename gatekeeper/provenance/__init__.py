"""Git provenance: every commit signed by a trusted key whose signer may change its paths.

The names below are loaded on first use, so that a process which needs only the signature
checkers (the verification worker, `sigworker.py`) starts without Git, YAML or settings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatekeeper.provenance.checkout import (
        ExportError,
        ExportLimits,
        RangeCheck,
        VerifiedCheckout,
    )
    from gatekeeper.provenance.errors import (
        HistoryRewritten,
        ProvenanceError,
        RepositoryError,
        TrustPolicyError,
    )
    from gatekeeper.provenance.policy import TrustPolicy, load_trust_policy, parse_trust_policy
    from gatekeeper.provenance.repository import CommitRecord, GitRepository
    from gatekeeper.provenance.verdicts import (
        SIGNATURE_REASONS,
        CommitVerdict,
        MatchedRule,
        RangeVerdict,
        Reason,
        RuleOutcome,
        SignatureFormat,
        SignatureVerdict,
    )
    from gatekeeper.provenance.verify import judge_commit, judge_range, verify_range, verify_tag

_MODULES: dict[str, tuple[str, ...]] = {
    "checkout": ("ExportError", "ExportLimits", "RangeCheck", "VerifiedCheckout"),
    "errors": ("HistoryRewritten", "ProvenanceError", "RepositoryError", "TrustPolicyError"),
    "policy": ("TrustPolicy", "load_trust_policy", "parse_trust_policy"),
    "repository": ("CommitRecord", "GitRepository"),
    "verdicts": (
        "SIGNATURE_REASONS",
        "CommitVerdict",
        "MatchedRule",
        "RangeVerdict",
        "Reason",
        "RuleOutcome",
        "SignatureFormat",
        "SignatureVerdict",
    ),
    "verify": ("judge_commit", "judge_range", "verify_range", "verify_tag"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "SIGNATURE_REASONS",
    "CommitRecord",
    "CommitVerdict",
    "ExportError",
    "ExportLimits",
    "GitRepository",
    "HistoryRewritten",
    "MatchedRule",
    "ProvenanceError",
    "RangeCheck",
    "RangeVerdict",
    "Reason",
    "RepositoryError",
    "RuleOutcome",
    "SignatureFormat",
    "SignatureVerdict",
    "TrustPolicy",
    "TrustPolicyError",
    "VerifiedCheckout",
    "judge_commit",
    "judge_range",
    "load_trust_policy",
    "parse_trust_policy",
    "verify_range",
    "verify_tag",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
