"""The gates' decisions as pure functions: provenance, kinds, policies. Each raises `Rejected`.

`Gates` (the shell) gathers what each check needs (the provenance verdict, the rendered
manifests, what the cluster serves, the policy decisions) and calls these in order; a check
that finds anything wrong raises `Rejected` with every reason it found, never returns False.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType, api_group
from gatekeeper.policy.decision import Decision, Message
from gatekeeper.policy.inputs import Provenance
from gatekeeper.provenance.verdicts import RangeVerdict
from gatekeeper.reconcile.desired import (
    CREATED_NAMESPACE_ANNOTATION,
    PolicyResults,
    ProvenanceGate,
    Rendered,
    Signature,
    SkipProvenance,
)
from gatekeeper.reconcile.errors import ReconcileError
from gatekeeper.settings import SourceSettings

Kind = tuple[str, str]  # (apiVersion, kind)


class Rejected(ReconcileError):
    """The commit failed a gate; `reasons` lists every failure found."""

    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        self.reasons = [dict(reason) for reason in reasons]
        super().__init__("; ".join(str(reason.get("message")) for reason in self.reasons))


def provenance(gate: ProvenanceGate, commit: str) -> Signature:
    """Who signed `commit`; `Rejected` naming every untrusted commit of the range.

    A `SkipProvenance` passes with the signature it carries: the caller verified the commit
    before and says so in its reason.
    """
    if isinstance(gate, SkipProvenance):
        return gate.signature
    if not isinstance(gate, RangeVerdict):
        # Fail closed: only a verdict or a named skip passes this gate, never a None.
        raise TypeError(f"the provenance gate needs a verdict or a SkipProvenance, not {gate!r}")
    if not gate.trusted:
        raise Rejected(untrusted_reasons(gate))
    return signature_of(gate, commit)


def untrusted_reasons(verdict: RangeVerdict) -> list[dict[str, Any]]:
    """One reason per untrusted object; an annotated tag keeps the record's shape (its SHA
    under `commit`), and its message says it is the tag."""
    return [
        {
            "kind": "untrusted",
            "commit": item.sha,
            "reason": str(item.reason),
            "signer": item.signer,
            "path": item.path,
            "message": f"{'tag' if item is verdict.tag else 'commit'} {item.sha[:12]} is not "
            f"trusted: {item.detail or item.reason}",
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


def custom_resources(manifests: Sequence[Mapping[str, Any]]) -> dict[Kind, ResourceType]:
    """Kinds that CustomResourceDefinitions in the same commit define, by (apiVersion, kind)."""
    found: dict[Kind, ResourceType] = {}
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


def with_namespace(rendered: Sequence[Rendered], source: SourceSettings) -> list[Rendered]:
    """The rendered objects, and the source's target Namespace when `createNamespace` asks
    for it and the commit does not define it. It is an object of the source like any other:
    the policies judge it, the ledger records it, it is applied first (as a Namespace) and
    watched for drift; it is never pruned (`CREATED_NAMESPACE_ANNOTATION`)."""
    found = list(rendered)
    name = source.namespace
    if not source.create_namespace or not name:
        return found
    for item in found:
        manifest = item.manifest
        if manifest.get("kind") == "Namespace" and manifest["metadata"].get("name") == name:
            return found
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": {CREATED_NAMESPACE_ANNOTATION: source.name}},
    }
    found.append(Rendered("(createNamespace)", namespace))
    return found


def kinds_to_discover(rendered: Sequence[Rendered]) -> list[Kind]:
    """The kinds the cluster must be asked about: those no definition in the commit defines."""
    defined = custom_resources([item.manifest for item in rendered])
    wanted: dict[Kind, None] = {}
    for item in rendered:
        kind = (str(item.manifest["apiVersion"]), str(item.manifest["kind"]))
        if kind not in defined:
            wanted[kind] = None
    return list(wanted)


def resolve(
    rendered: Sequence[Rendered],
    *,
    served: Mapping[Kind, ResourceType | UnknownKind],
    namespace: str | None,
) -> tuple[tuple[DesiredObject, ...], dict[ObjectKey, ResourceType], frozenset[tuple[str, str]]]:
    """The commit's objects keyed and typed, with namespaces settled; `Rejected` naming every
    unknown kind and every object defined twice.

    `served` answers for each kind of `kinds_to_discover`: where the cluster serves it, or
    why it does not. A namespaced object without a namespace gets `namespace` (or
    `default`); a cluster-wide one loses the namespace written on it, as the API server
    ignores it and keeping it would key the object wrongly.
    """
    defined = custom_resources([item.manifest for item in rendered])
    objects: list[DesiredObject] = []
    resources: dict[ObjectKey, ResourceType] = {}
    reasons: list[dict[str, Any]] = []
    for item in rendered:
        kind = (str(item.manifest["apiVersion"]), str(item.manifest["kind"]))
        resource = defined.get(kind) or served[kind]
        if isinstance(resource, UnknownKind):
            reasons.append(
                {"kind": "unknown_kind", "path": item.path, "message": f"{item.path}: {resource}"}
            )
            continue
        manifest = _placed(item.manifest, resource, namespace)
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
    if reasons:
        raise Rejected(reasons)
    custom = frozenset((r.group, r.kind) for r in defined.values())
    return tuple(objects), resources, custom


def _placed(
    manifest: Mapping[str, Any], resource: ResourceType, namespace: str | None
) -> dict[str, Any]:
    metadata = dict(manifest.get("metadata") or {})
    if resource.namespaced and not metadata.get("namespace"):
        metadata["namespace"] = namespace or "default"
    elif not resource.namespaced:
        metadata.pop("namespace", None)
    return {**manifest, "metadata": metadata}


def sync_provenance(
    item: DesiredObject, *, source: str, repo: str, commit: str, signature: Signature
) -> Provenance:
    """What the policies see of an object's provenance at sync time: verified and trusted."""
    fmt = signature.format if signature.format in ("openpgp", "ssh", "x509") else None
    return Provenance(
        source=source,
        repo=repo,
        commit=commit,
        path=item.path,
        verified=True,
        trusted=True,
        signature_format=fmt,  # type: ignore[arg-type]
        signer=signature.signer or "",
        key_id=signature.key_id or "",
    )


def policies(decisions: Iterable[tuple[DesiredObject, Decision]], *, version: str) -> PolicyResults:
    """The warnings and dry-run findings of the objects' decisions under the policy set of
    `version`; `Rejected` naming every denial."""
    denials: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    dry_runs: list[dict[str, Any]] = []
    for item, decision in decisions:
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
            warnings.append(_finding(item, message))
        for message in decision.dry_runs:
            dry_runs.append(_finding(item, message))
    if denials:
        raise Rejected(denials)
    return PolicyResults(version=version, warnings=tuple(warnings), dry_runs=tuple(dry_runs))


def _finding(item: DesiredObject, message: Message) -> dict[str, Any]:
    return {"object": str(item.key), "policy": message.policy, "message": message.msg}


def inventory(
    live: Iterable[Mapping[str, Any]],
    objects: Iterable[DesiredObject],
    *,
    kinds: Sequence[Kind],
) -> list[Mapping[str, Any]]:
    """`data.inventory` as the commit would leave the cluster: the live objects of `kinds`,
    replaced or joined by the commit's own objects of those kinds."""
    found: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for obj in live:
        found[_inventory_key(obj)] = _without_managed_fields(obj)
    wanted = {(api_group(api_version), kind) for api_version, kind in kinds}
    for desired in objects:
        manifest = desired.manifest
        if (api_group(str(manifest.get("apiVersion"))), desired.key.kind) in wanted:
            found[_inventory_key(manifest)] = manifest
    return list(found.values())


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
