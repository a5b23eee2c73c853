"""The policy port's real adapter: the Rego policy evaluator, in phase `admission`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gatekeeper.admission.ports import PolicyFinding, PolicyOutcome, ProvenanceFacts
from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.policy.evaluator import PolicyEvaluator, build_evaluator
from gatekeeper.policy.inputs import Provenance, admission_input
from gatekeeper.policy.policyset import PolicySet, policy_set_version
from gatekeeper.policy.sources import RecordQuery
from gatekeeper.provenance import VerifiedCheckout
from gatekeeper.settings import Settings

_FORMATS = ("openpgp", "ssh", "x509")


class RegoPolicies:
    """Evaluates admission requests with a `PolicyEvaluator`; follows its reloads."""

    def __init__(
        self, evaluator: PolicyEvaluator, *, repos: Mapping[str, str] | None = None
    ) -> None:
        self._evaluator = evaluator
        # Each source's repository, so that `input.provenance.repo` is what sync time shows.
        self._repos = dict(repos or {})
        self._lock = threading.Lock()
        self._versions: tuple[PolicySet, str] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, history: RecordQuery | None = None
    ) -> RegoPolicies:
        """The configured engine with the configured policies; raises if they do not load.

        `history` (the audit store) gives the commits of Git policy sources loaded before."""
        # Loading runs a probe query, which leaves a native engine bound to the loading
        # thread. Loading on a thread of its own lets that engine go when the thread ends,
        # on that thread, as regorus requires, instead of whenever the evaluator is collected.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-load") as loader:
            evaluator = loader.submit(
                build_evaluator,
                settings,
                history=history,
                component="webhook",
                checkout=VerifiedCheckout,
                isolate_seconds=(
                    settings.admission.decision_timeout
                    if settings.admission.isolate_policies
                    else None
                ),
            ).result()
        return cls(evaluator, repos={source.name: source.repo for source in settings.sources})

    def close(self) -> None:
        """Release the engine (its processes, when the policies are isolated)."""
        self._evaluator.engine.close()

    @property
    def evaluator(self) -> PolicyEvaluator:
        return self._evaluator

    @property
    def version(self) -> str:
        policy_set = self._evaluator.policy_set
        cached = self._versions
        if cached is not None and cached[0] is policy_set:
            return cached[1]
        version = policy_set_version(policy_set)
        with self._lock:
            self._versions = (policy_set, version)
        return version

    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome:
        version = self.version
        decision = self._evaluator.evaluate(
            admission_input(
                _as_mapping(request),
                provenance=_provenance(provenance, self._repos.get(provenance.source, "")),
            )
        )
        findings = tuple(
            PolicyFinding(policy=m.policy, action=m.action, message=m.msg)
            for m in decision.messages
        )
        return PolicyOutcome(findings=findings, version=version)


def _as_mapping(request: AdmissionRequest) -> dict[str, Any]:
    return dict(request)


def _provenance(facts: ProvenanceFacts, repo: str) -> Provenance:
    signature_format = facts.signature_format if facts.signature_format in _FORMATS else None
    return Provenance(
        source=facts.source,
        repo=repo if facts.source else "",
        commit=facts.commit,
        path=facts.path,
        verified=facts.verified,
        # The ledger records a commit only after its signer was found allowed for its paths.
        trusted=facts.verified,
        signature_format=signature_format,  # type: ignore[arg-type]
        signer=facts.signer,
        key_id=facts.key_id,
    )
