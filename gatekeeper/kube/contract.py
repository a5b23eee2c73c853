"""The reconciler-webhook contract of DESIGN section 5: provenance label, annotations, records.

What an applied object carries (label and annotations), and the two records the reconciler
writes to the provenance ledger before applying (a verified commit, a desired object), which
the webhook then admits against.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gatekeeper.canonical import manifest_digest
from gatekeeper.kube.objects import ObjectKey

FIELD_MANAGER: Final = "gatekeeper"
MANAGED_LABEL: Final = "gatekeeper.dev/managed"
SOURCE_ANNOTATION: Final = "gatekeeper.dev/source"
COMMIT_ANNOTATION: Final = "gatekeeper.dev/commit"
DIGEST_ANNOTATION: Final = "gatekeeper.dev/manifest-digest"
BREAK_GLASS_ANNOTATION: Final = "gatekeeper.dev/break-glass"
PROVENANCE_ANNOTATIONS: Final = (SOURCE_ANNOTATION, COMMIT_ANNOTATION, DIGEST_ANNOTATION)


@dataclass(frozen=True)
class ProvenanceMeta:
    """What an object says about where it came from."""

    source: str
    commit: str
    digest: str


@dataclass(frozen=True)
class VerifiedCommit:
    """A commit the reconciler verified for a source, and who signed it."""

    source: str
    commit: str
    verified_at: datetime
    signer: str | None
    key_id: str | None
    format: str | None


@dataclass(frozen=True)
class DesiredObject:
    """One object as rendered from Git at a commit, before provenance annotations are added."""

    key: ObjectKey
    path: str
    manifest: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return manifest_digest(self.manifest)


def annotate(manifest: Mapping[str, Any], *, source: str, commit: str) -> dict[str, Any]:
    """A copy of the manifest as rendered from Git, carrying its provenance.

    The digest is computed over `manifest` exactly as given, before anything is added.
    """
    digest = manifest_digest(manifest)
    result = copy.deepcopy(dict(manifest))
    metadata = result.setdefault("metadata", {})
    metadata["labels"] = {**(metadata.get("labels") or {}), MANAGED_LABEL: "true"}
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        SOURCE_ANNOTATION: source,
        COMMIT_ANNOTATION: commit,
        DIGEST_ANNOTATION: digest,
    }
    return result


def strip(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `annotate`: the manifest without the label and annotations it adds.

    Empty `labels`/`annotations` maps left behind are removed, so that
    `strip(annotate(m)) == m` for any manifest `m` that did not carry them itself.
    """
    result = copy.deepcopy(dict(manifest))
    metadata = result.get("metadata")
    if not isinstance(metadata, dict):
        return result
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        labels.pop(MANAGED_LABEL, None)
        if not labels:
            del metadata["labels"]
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key in PROVENANCE_ANNOTATIONS:
            annotations.pop(key, None)
        if not annotations:
            del metadata["annotations"]
    return result


def is_managed(obj: Mapping[str, Any] | None) -> bool:
    """True when the object carries the managed label."""
    if not obj:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_LABEL) == "true"


def read(obj: Mapping[str, Any] | None) -> ProvenanceMeta | None:
    """The provenance annotations of an object, or None when any of them is missing."""
    if not obj:
        return None
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    values = [annotations.get(key) for key in PROVENANCE_ANNOTATIONS]
    if not all(isinstance(value, str) and value for value in values):
        return None
    source, commit, digest = values
    return ProvenanceMeta(source=str(source), commit=str(commit), digest=str(digest))
