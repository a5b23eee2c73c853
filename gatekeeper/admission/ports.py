"""What the admission decision needs from the outside: the ledger and the policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.kube.contract import VerifiedCommit
from gatekeeper.kube.objects import ObjectKey

Action = Literal["deny", "warn", "dryrun"]


class LedgerPort(Protocol):
    """Read access to the provenance ledger (`gatekeeper.audit.ledger.Ledger`)."""

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None: ...

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None: ...

    def as_stored(self, obj: Mapping[str, Any]) -> Any:
        """`obj` as `desired` returns manifests: Secret values as the ledger's digests."""
        ...


@dataclass(frozen=True, kw_only=True)
class ProvenanceFacts:
    """What the webhook established about where the incoming object came from."""

    source: str = ""
    commit: str = ""
    path: str = ""
    verified: bool = False
    signer: str = ""
    key_id: str = ""
    signature_format: str = ""


@dataclass(frozen=True, kw_only=True)
class PolicyFinding:
    """One message of one policy."""

    policy: str
    action: Action
    message: str


@dataclass(frozen=True, kw_only=True)
class PolicyOutcome:
    """Every message the policies produced for one request, and which policy set decided."""

    findings: tuple[PolicyFinding, ...] = ()
    version: str = ""


class PolicyPort(Protocol):
    """The Rego policies, evaluated in phase `admission`."""

    @property
    def version(self) -> str: ...

    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome: ...
