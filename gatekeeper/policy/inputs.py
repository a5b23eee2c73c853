"""The policy input of DESIGN section 6, built the same way at sync time and at admission."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from gatekeeper.kube.objects import split_api_version

Phase = Literal["sync", "admission"]


class SignatureInfo(TypedDict, total=False):
    format: Literal["openpgp", "ssh", "x509"]
    signer: str
    key_id: str


class ProvenanceInput(TypedDict, total=False):
    """`input.provenance`: where the object came from and whether that was verified."""

    phase: Phase
    source: str
    repo: str
    commit: str
    path: str
    verified: bool
    trusted: bool
    signature: SignatureInfo


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Provenance of one object, as the reconciler or the webhook knows it."""

    source: str = ""
    repo: str = ""
    commit: str = ""
    path: str = ""
    verified: bool = False
    trusted: bool = False
    signature_format: Literal["openpgp", "ssh", "x509"] | None = None
    signer: str = ""
    key_id: str = ""

    def to_input(self, phase: Phase) -> ProvenanceInput:
        result: ProvenanceInput = {
            "phase": phase,
            "source": self.source,
            "repo": self.repo,
            "commit": self.commit,
            "path": self.path,
            "verified": self.verified,
            "trusted": self.trusted,
        }
        if self.signature_format is not None:
            result["signature"] = {
                "format": self.signature_format,
                "signer": self.signer,
                "key_id": self.key_id,
            }
        return result


# Resource names of the kinds the library cares about; other kinds get the usual
# lower-case plural, which is what the API server uses for nearly every built-in kind.
_IRREGULAR_PLURALS: Mapping[str, str] = {
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PodSecurityPolicy": "podsecuritypolicies",
    "Endpoints": "endpoints",
    "StorageClass": "storageclasses",
    "IngressClass": "ingressclasses",
    "PriorityClass": "priorityclasses",
    "RuntimeClass": "runtimeclasses",
}


def group_version_kind(manifest: Mapping[str, Any]) -> dict[str, str]:
    """`{group, version, kind}` from a manifest's apiVersion and kind."""
    group, version = split_api_version(str(manifest.get("apiVersion") or ""))
    return {"group": group, "version": version, "kind": str(manifest.get("kind") or "")}


def resource_for(manifest: Mapping[str, Any]) -> dict[str, str]:
    """`{group, version, resource}` the API server would route the manifest to."""
    gvk = group_version_kind(manifest)
    kind = gvk["kind"]
    plural = _IRREGULAR_PLURALS.get(kind)
    if plural is None:
        lower = kind.lower()
        plural = lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")
        if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
            plural = lower[:-1] + "ies"
    return {"group": gvk["group"], "version": gvk["version"], "resource": plural}


def sync_input(
    manifest: Mapping[str, Any],
    *,
    provenance: Provenance | None = None,
    username: str = "",
    groups: tuple[str, ...] = (),
    namespace: str | None = None,
    old_object: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The input for a manifest rendered from Git, before the reconciler applies it.

    `namespace` is the namespace the object lands in when its manifest names none. The
    operation is UPDATE when the live object (`old_object`) exists, CREATE otherwise.
    """
    metadata = manifest.get("metadata") or {}
    review = {
        "uid": "",
        "kind": group_version_kind(manifest),
        "resource": resource_for(manifest),
        "name": str(metadata.get("name") or ""),
        "namespace": str(metadata.get("namespace") or namespace or ""),
        "operation": "UPDATE" if old_object is not None else "CREATE",
        "userInfo": {"username": username, "groups": list(groups)},
        "object": _copied_tree(manifest),
        "oldObject": _copied_tree(old_object) if old_object is not None else None,
        "dryRun": False,
    }
    return {
        "review": review,
        "parameters": dict(parameters or {}),
        "provenance": (provenance or Provenance()).to_input("sync"),
    }


def _copied_tree(root: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a manifest's mappings and lists, made without recursion.

    `copy.deepcopy` recurses once per level and runs out of stack a few hundred levels down,
    which the reconciler's `maxYamlDepth` allows. Other values (strings, numbers, dates) are
    immutable and shared; a mapping or list met twice (a YAML alias) is copied once.
    """
    copies: dict[int, Any] = {}
    top: dict[str, Any] = {}
    copies[id(root)] = top
    pending: list[tuple[Any, Any]] = [(root, top)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, value in items:
            if not isinstance(value, Mapping | list):
                target[key] = value
                continue
            made = copies.get(id(value))
            if made is None:
                made = {} if isinstance(value, Mapping) else [None] * len(value)
                copies[id(value)] = made
                pending.append((value, made))
            target[key] = made
    return top


_REVIEW_FIELDS = (
    "uid",
    "kind",
    "resource",
    "subResource",
    "requestKind",
    "requestResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "object",
    "oldObject",
    "dryRun",
    "options",
)


def admission_input(
    request: Mapping[str, Any],
    *,
    provenance: Provenance | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The input for an AdmissionRequest (the `request` of an AdmissionReview v1).

    It shares the request's values rather than copying them (a copy costs a tenth of an
    admission decision): engines serialise the input and never change it.
    """
    review: dict[str, Any] = {key: request[key] for key in _REVIEW_FIELDS if key in request}
    review.setdefault("uid", "")
    review.setdefault("name", "")
    review.setdefault("namespace", "")
    review.setdefault("object", None)
    review.setdefault("oldObject", None)
    review.setdefault("dryRun", False)
    review.setdefault("userInfo", {"username": "", "groups": []})
    if "kind" not in review and isinstance(review.get("object"), Mapping):
        review["kind"] = group_version_kind(review["object"])
    return {
        "review": review,
        "parameters": dict(parameters or {}),
        "provenance": (provenance or Provenance()).to_input("admission"),
    }


def input_from_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The input for a file given to `policy eval`: an AdmissionReview, a prepared input, or
    a plain manifest (phase sync)."""
    if document.get("kind") == "AdmissionReview" and isinstance(document.get("request"), Mapping):
        return admission_input(document["request"])
    if isinstance(document.get("review"), Mapping):
        prepared = dict(document)
        prepared.setdefault("parameters", {})
        prepared.setdefault("provenance", Provenance().to_input("sync"))
        return prepared
    return sync_input(document)
