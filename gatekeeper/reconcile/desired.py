"""One commit as the gates leave it: its objects, its signature, and every gate skipped by name.

A gate is skipped only by handing it an explicit skip that says why (as sigstore's `UnsafeNoOp`
does), never by leaving an argument out: `Gates.prepare` takes either the provenance verdict
or a `SkipProvenance`, and the policies run unless it is given a `SkipPolicies`. Each skip
travels with the `Desired` it produced, so every record of an apply made from it says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.provenance.verdicts import RangeVerdict


@dataclass(frozen=True)
class Rendered:
    """One manifest and the repository path of the file (or directory) it came from."""

    path: str
    manifest: dict[str, Any]


# Marks the Namespace a source's `createNamespace` made: it is never pruned, as Flux never
# deletes the namespace it created (other sources' objects may live in it).
CREATED_NAMESPACE_ANNOTATION = "gatekeeper.dev/created-namespace"


@dataclass(frozen=True)
class Signature:
    """Who signed a commit, as its verification found."""

    signer: str | None = None
    key_id: str | None = None
    format: str | None = None


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A gate not run on purpose; `reason` says why, and is recorded."""

    gate: ClassVar[str]
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError(f"skipping the {self.gate} gate needs a reason")

    def to_dict(self) -> dict[str, str]:
        return {"gate": self.gate, "reason": self.reason}


@dataclass(frozen=True, kw_only=True)
class SkipProvenance(Skip):
    """The commit's signatures are not checked again: it was verified before, by `signature`,
    at `verified_at` when the ledger says when."""

    gate: ClassVar[str] = "provenance"
    signature: Signature = field(default_factory=Signature)
    verified_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SkipPolicies(Skip):
    """The commit's objects are not evaluated again: they passed when it was synced."""

    gate: ClassVar[str] = "policies"


# What the provenance gate is given: the verdict on the commits a sync brings, or a named skip.
ProvenanceGate = RangeVerdict | SkipProvenance


@dataclass(frozen=True)
class PolicyResults:
    """What the policies said of a commit they let through: the version of the policy set
    that decided, and the findings that do not block (denials reject the commit instead).
    Each finding is `{object, policy, message}`."""

    version: str
    warnings: tuple[dict[str, Any], ...] = ()
    dry_runs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Desired:
    """Everything of one commit that passed the gates, ready to apply, and what each gate
    found: the provenance it was given and the policies' results (None when skipped)."""

    source: str
    commit: str
    objects: tuple[DesiredObject, ...]
    resources: Mapping[ObjectKey, ResourceType]
    custom_kinds: frozenset[tuple[str, str]]
    signature: Signature = field(default_factory=Signature)
    skipped: tuple[Skip, ...] = ()
    provenance: ProvenanceGate | None = None
    policies: PolicyResults | None = None
    # The repository files the render read, and the chart dependencies it fetched.
    files: tuple[str, ...] = ()
    fetched: tuple[Mapping[str, str], ...] = ()

    @property
    def kinds(self) -> list[str]:
        return sorted({f"{r.api_version}|{r.kind}" for r in self.resources.values()})

    @property
    def warnings(self) -> tuple[dict[str, Any], ...]:
        return self.policies.warnings if self.policies is not None else ()
