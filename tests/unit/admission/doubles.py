"""In-memory doubles of the admission ports, and builders of AdmissionRequests, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gatekeeper.admission.ports import PolicyFinding, PolicyOutcome, ProvenanceFacts
from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.audit.redact import secret_as_stored
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube import contract
from gatekeeper.kube.contract import VerifiedCommit
from gatekeeper.kube.objects import ObjectKey

COMMIT = "a" * 40
OTHER_COMMIT = "b" * 40
SOURCE = "apps"
PATH = "apps/web/deployment.yaml"
RECONCILER = "system:serviceaccount:gatekeeper-system:gatekeeper"
DIGESTER = SecretDigester(b"k" * 32)


def deployment(
    name: str = "web", namespace: str = "shop", image: str = "nginx:1.27"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


def live(manifest: Mapping[str, Any], *, commit: str = COMMIT) -> dict[str, Any]:
    """The object as the API server holds it after the reconciler applied `manifest`."""
    obj = contract.annotate(manifest, source=SOURCE, commit=commit)
    obj["metadata"].update({"uid": "0b0e", "resourceVersion": "17", "generation": 1})
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container.update({"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/x"})
    obj["spec"]["strategy"] = {"type": "RollingUpdate"}
    return obj


def request(
    operation: str,
    *,
    obj: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
    user: str = "alice",
    groups: tuple[str, ...] = ("developers",),
    sub_resource: str = "",
    dry_run: bool = False,
) -> AdmissionRequest:
    subject = obj or old or {}
    metadata = subject.get("metadata") or {}
    group, _, version = str(subject.get("apiVersion", "v1")).rpartition("/")
    kind = str(subject.get("kind", "ConfigMap"))
    return {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "subResource": sub_resource,
        "name": str(metadata.get("name", "")),
        "namespace": str(metadata.get("namespace", "")),
        "operation": operation,  # type: ignore[typeddict-item]
        "userInfo": {"username": user, "groups": list(groups)},
        "object": copy.deepcopy(dict(obj)) if obj is not None else None,
        "oldObject": copy.deepcopy(dict(old)) if old is not None else None,
        "dryRun": dry_run,
    }


@dataclass
class MemoryLedger:
    commits: dict[tuple[str, str], VerifiedCommit] = field(default_factory=dict)
    objects: dict[tuple[str, str, ObjectKey], tuple[str, str, Mapping[str, Any]]] = field(
        default_factory=dict
    )

    def record(
        self, manifest: Mapping[str, Any], *, commit: str = COMMIT, path: str = PATH
    ) -> None:
        self.commits[(SOURCE, commit)] = VerifiedCommit(
            source=SOURCE,
            commit=commit,
            verified_at=datetime.now(UTC),
            signer="alice",
            key_id="ABCD",
            format="openpgp",
        )
        key = ObjectKey.of(manifest)
        self.objects[(SOURCE, commit, key)] = (manifest_digest(manifest), path, manifest)

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None:
        return self.commits.get((source, commit))

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None:
        return self.objects.get((source, commit, key))

    def as_stored(self, obj: Mapping[str, Any]) -> Any:
        return secret_as_stored(obj, DIGESTER)


@dataclass
class MemoryPolicies:
    """Answers every request with the same findings and remembers what it was asked."""

    findings: tuple[PolicyFinding, ...] = ()
    version: str = "sha256:test-policies"
    calls: list[tuple[AdmissionRequest, ProvenanceFacts]] = field(default_factory=list)

    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome:
        self.calls.append((request, provenance))
        return PolicyOutcome(findings=self.findings, version=self.version)
