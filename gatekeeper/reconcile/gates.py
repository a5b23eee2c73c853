"""The gates a commit passes before anything of it is applied: provenance, render, kinds, policy.

`prepare` returns the desired objects of one commit, or raises `Rejected` with every reason
found, so that `sync.rejected` can name them all and nothing of the commit is applied.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType, api_group
from gatekeeper.policy.decision import Decision
from gatekeeper.policy.inputs import Provenance, sync_input
from gatekeeper.policy.policyset import PolicySet
from gatekeeper.provenance import RangeVerdict
from gatekeeper.reconcile import render
from gatekeeper.reconcile.errors import ReconcileError, RenderError
from gatekeeper.reconcile.gitsource import GitPort
from gatekeeper.settings import SourceSettings

log = logging.getLogger(__name__)


class PolicyPort(Protocol):
    """The policy engine as the reconciler uses it (`PolicyEvaluator`)."""

    def evaluate(self, input_document: Mapping[str, Any]) -> Decision: ...

    @property
    def policy_set(self) -> PolicySet:
        """The active set (it changes when the policy files are reloaded)."""
        ...

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace `data.inventory` (the reconciler puts the Namespaces there)."""
        ...


class Discovery(Protocol):
    def resource_for(self, api_version: str, kind: str) -> ResourceType: ...

    def list(
        self, resource: ResourceType, *, label_selector: str = "", namespace: str | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Signature:
    signer: str | None = None
    key_id: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class Desired:
    """Everything of one commit that passed the gates, ready to apply."""

    source: str
    commit: str
    objects: tuple[DesiredObject, ...]
    resources: Mapping[ObjectKey, ResourceType]
    custom_kinds: frozenset[tuple[str, str]]
    signature: Signature = field(default_factory=Signature)
    warnings: tuple[dict[str, Any], ...] = ()

    @property
    def kinds(self) -> list[str]:
        return sorted({f"{r.api_version}|{r.kind}" for r in self.resources.values()})


class Rejected(ReconcileError):
    """The commit failed a gate; `reasons` lists every failure found."""

    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        self.reasons = [dict(reason) for reason in reasons]
        super().__init__("; ".join(str(reason.get("message")) for reason in self.reasons))


def untrusted_reasons(verdict: RangeVerdict) -> list[dict[str, Any]]:
    return [
        {
            "kind": "untrusted",
            "commit": item.sha,
            "reason": str(item.reason),
            "signer": item.signer,
            "path": item.path,
            "message": f"commit {item.sha[:12]} is not trusted: {item.detail or item.reason}",
        }
        for item in verdict.untrusted
    ]


def signature_of(verdict: RangeVerdict, commit: str) -> Signature:
    for item in verdict.commits:
        if item.sha == commit:
            return Signature(
                signer=item.signer,
                key_id=item.key_id,
                format=str(item.format) if item.format else None,
            )
    return Signature()


def custom_resources(manifests: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], ResourceType]:
    """Kinds that CustomResourceDefinitions in the same commit define, by (apiVersion, kind)."""
    found: dict[tuple[str, str], ResourceType] = {}
    for manifest in manifests:
        if manifest.get("kind") != "CustomResourceDefinition":
            continue
        spec = manifest.get("spec") or {}
        names = spec.get("names") or {}
        group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
        if not (isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str)):
            continue
        for version in spec.get("versions") or []:
            name = version.get("name") if isinstance(version, Mapping) else None
            if isinstance(name, str):
                found[(f"{group}/{name}", kind)] = ResourceType(
                    group=group,
                    version=name,
                    kind=kind,
                    plural=plural,
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                )
    return found


@dataclass
class Gates:
    """Runs the gates for one source."""

    source: SourceSettings
    git: GitPort
    kube: Discovery
    engine: PolicyPort
    identity: str
    work_dir: Path
    # (apiVersion, kind) kept in data.inventory beside the Namespaces (`policies.inventory`).
    inventory_kinds: Sequence[tuple[str, str]] = ()

    def prepare(
        self,
        commit: str,
        *,
        verdict: RangeVerdict | None,
        signature: Signature | None = None,
        check_policies: bool = True,
    ) -> Desired:
        """The commit's desired objects; `Rejected` with every reason when a gate fails."""
        if verdict is not None and not verdict.trusted:
            raise Rejected(untrusted_reasons(verdict))
        sig = signature or (signature_of(verdict, commit) if verdict else Signature())
        rendered = self._render(commit)
        objects, resources, custom, reasons = self._resolve(rendered)
        if reasons:
            raise Rejected(reasons)
        warnings: list[dict[str, Any]] = []
        if check_policies:
            self._load_inventory(objects)
            denials = self._evaluate(commit, objects, sig, warnings)
            if denials:
                raise Rejected(denials)
        return Desired(
            source=self.source.name,
            commit=commit,
            objects=tuple(objects),
            resources=resources,
            custom_kinds=custom,
            signature=sig,
            warnings=tuple(warnings),
        )

    def _render(self, commit: str) -> list[render.Rendered]:
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="render-") as scratch:
            try:
                root = self.git.export(commit, self.source.path, Path(scratch))
                return render.render(
                    root,
                    mode=self.source.render,
                    origin=self.source.path.strip("/") or ".",
                    release=self.source.name,
                    namespace=self.source.namespace,
                )
            except RenderError as exc:
                raise Rejected([{"kind": "render", "message": str(exc)}]) from exc

    def _resolve(
        self, rendered: Sequence[render.Rendered]
    ) -> tuple[
        list[DesiredObject],
        dict[ObjectKey, ResourceType],
        frozenset[tuple[str, str]],
        list[dict[str, Any]],
    ]:
        defined = custom_resources([item.manifest for item in rendered])
        objects: list[DesiredObject] = []
        resources: dict[ObjectKey, ResourceType] = {}
        reasons: list[dict[str, Any]] = []
        for item in rendered:
            manifest = item.manifest
            api_version, kind = str(manifest["apiVersion"]), str(manifest["kind"])
            resource = defined.get((api_version, kind))
            if resource is None:
                try:
                    resource = self.kube.resource_for(api_version, kind)
                except UnknownKind as exc:
                    reasons.append(
                        {
                            "kind": "unknown_kind",
                            "path": item.path,
                            "message": f"{item.path}: {exc}",
                        }
                    )
                    continue
            metadata = manifest.setdefault("metadata", {})
            if resource.namespaced and not metadata.get("namespace"):
                metadata["namespace"] = self.source.namespace or "default"
            elif not resource.namespaced and "namespace" in metadata:
                # The API server ignores it; keeping it would key the object wrongly.
                del metadata["namespace"]
            key = ObjectKey.of(manifest)
            if key in resources:
                reasons.append(
                    {
                        "kind": "duplicate",
                        "path": item.path,
                        "message": f"{item.path}: {key} is defined twice",
                    }
                )
                continue
            resources[key] = resource
            objects.append(DesiredObject(key=key, path=item.path, manifest=manifest))
        custom = frozenset((r.group, r.kind) for r in defined.values())
        return objects, resources, custom, reasons

    def _load_inventory(self, objects: Sequence[DesiredObject]) -> None:
        """Put the cluster's Namespaces and `inventory_kinds`, as this commit would leave
        them, in the inventory: constraints that select namespaces by label see the labels
        they will have, and referential policies see the objects beside the one checked.
        A configured kind the cluster does not serve (yet) contributes only the commit's own
        objects of it."""
        kinds = [("v1", "Namespace"), *self.inventory_kinds]
        found: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
        for api_version, kind in kinds:
            try:
                resource = self.kube.resource_for(api_version, kind)
            except UnknownKind as exc:
                log.warning("policies.inventory: %s; only this commit's objects of it count", exc)
                continue
            for live in self.kube.list(resource):
                found[_inventory_key(live)] = _without_managed_fields(live)
        wanted = {(api_group(api_version), kind) for api_version, kind in kinds}
        for desired in objects:
            manifest = desired.manifest
            if (api_group(str(manifest.get("apiVersion"))), desired.key.kind) in wanted:
                found[_inventory_key(manifest)] = manifest
        self.engine.set_inventory(found.values())

    def _evaluate(
        self,
        commit: str,
        objects: Sequence[DesiredObject],
        sig: Signature,
        warnings: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        denials: list[dict[str, Any]] = []
        fmt = sig.format if sig.format in ("openpgp", "ssh", "x509") else None
        for item in objects:
            provenance = Provenance(
                source=self.source.name,
                repo=self.source.repo,
                commit=commit,
                path=item.path,
                verified=True,
                trusted=True,
                signature_format=fmt,  # type: ignore[arg-type]
                signer=sig.signer or "",
                key_id=sig.key_id or "",
            )
            decision = self.engine.evaluate(
                sync_input(item.manifest, provenance=provenance, username=self.identity)
            )
            for message in decision.denials:
                denials.append(
                    {
                        "kind": "policy",
                        "object": str(item.key),
                        "path": item.path,
                        "policy": message.policy,
                        "message": f"{item.key}: [{message.policy}] {message.msg}",
                    }
                )
            for message in decision.warnings:
                warnings.append(
                    {"object": str(item.key), "policy": message.policy, "message": message.msg}
                )
        return denials


def _inventory_key(item: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """One object whatever version it is written in: group, kind, namespace, name."""
    metadata = item.get("metadata") or {}
    return (
        api_group(str(item.get("apiVersion"))),
        str(item.get("kind")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name")),
    )


def _without_managed_fields(item: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = {k: v for k, v in (item.get("metadata") or {}).items() if k != "managedFields"}
    return {**item, "metadata": metadata}
