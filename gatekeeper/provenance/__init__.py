"""Git provenance: every commit signed by a trusted key whose signer may change its paths."""

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
