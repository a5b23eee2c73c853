"""A reconciler wired to real parts: signed repositories, the local control plane, Rego."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore
from gatekeeper.kube.client import KubeClient
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.reconcile.gitsource import GitMirror
from gatekeeper.reconcile.leader import LeaderElector
from gatekeeper.reconcile.reconciler import Reconciler
from gatekeeper.settings import ReconcilerLimits, SourceSettings
from tests.fixtures.cluster import Cluster
from tests.fixtures.gitrepo import (
    Keys,
    SignedRepo,
    gpg_home,
    keys,
    signed_repo,
    standard_signers,
    trust_policy_yaml,
)

__all__ = ["gpg_home", "keys", "signed_repo"]

# A small policy set of our own, so the tests do not depend on the shipped library's rules.
FORBIDDEN_POLICY = textwrap.dedent(
    """\
    # METADATA
    # title: Nothing labelled forbidden
    # custom:
    #   enforcement: deny
    package tests.no_forbidden

    import rego.v1

    deny contains msg if {
    \tinput.review.object.metadata.labels.forbidden == "true"
    \tmsg := sprintf("%s is labelled forbidden", [input.review.object.metadata.name])
    }

    deny contains msg if {
    \tinput.provenance.phase == "sync"
    \tnot input.provenance.verified
    \tmsg := "unverified provenance"
    }
    """
)


def config_map(name: str, data: Mapping[str, str], **labels: str) -> str:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}
    )


def deployment(name: str, image: str, replicas: int = 1) -> str:
    labels = {"app": name}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
            },
        }
    )


@dataclass
class Harness:
    """One source in one test namespace, and the means to reconcile and inspect it."""

    repo: SignedRepo
    keys: Keys
    store: AuditStore
    kube: KubeClient
    admin: client.ApiClient
    alice: client.ApiClient
    namespace: str
    trust_file: Path
    work: Path
    engine: PolicyEvaluator
    reconcilers: list[Reconciler] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The source's name: unique per test, as objects are listed cluster-wide."""
        return self.namespace

    def source(self, **overrides: Any) -> SourceSettings:
        values: dict[str, Any] = {
            "name": self.name,
            "repo": str(self.repo.path),
            "ref": "main",
            "path": "apps",
            "trust": self.trust_file,
            "namespace": self.namespace,
            "healthTimeout": 60,
        }
        values.update(overrides)
        return SourceSettings(**values)

    def config_document(self, kubeconfig: Path, policies: Path, **source: Any) -> dict[str, Any]:
        """A `gatekeeper.yaml` for this source, as the CLI reads it: the harness's store, the
        reconciler's kubeconfig, the policies in `policies`; `source` adds source keys."""
        return {
            "database": {"url": self.store.engine.url.render_as_string(hide_password=False)},
            "kubernetes": {"kubeconfig": str(kubeconfig)},
            "policies": {"paths": [str(policies)]},
            "admission": {"reconcilerIdentity": "reconciler"},
            "sources": [
                {
                    "name": self.name,
                    "repo": str(self.repo.path),
                    "path": "apps",
                    "trust": str(self.trust_file),
                    "namespace": self.namespace,
                    **source,
                }
            ],
        }

    def reconciler(
        self,
        *sources: SourceSettings,
        elector: LeaderElector | None = None,
        kube: Any = None,
        engine: PolicyEvaluator | None = None,
        policy_watch: PolicyWatcher | None = None,
        inventory_kinds: tuple[tuple[str, str], ...] = (),
        limits: ReconcilerLimits | None = None,
    ) -> Reconciler:
        chosen = sources or (self.source(),)
        git = {
            s.name: GitMirror(
                url=s.repo,
                ref=s.ref,
                trust_file=s.trust,
                cache_dir=self.work / "mirrors",
                limits=limits,
            )
            for s in chosen
        }
        reconciler = Reconciler(
            git=git,
            kube=kube or self.kube,
            engine=engine or self.engine,
            store=self.store,
            sources=chosen,
            identity="reconciler",
            elector=elector,
            work_dir=self.work,
            retry_delay=0.05,
            policy_watch=policy_watch,
            inventory_kinds=inventory_kinds,
            limits=limits,
        )
        self.reconcilers.append(reconciler)
        return reconciler

    def commit(self, files: Mapping[str, str | None], signer: str | None = "alice") -> str:
        who = self.keys.signer(signer) if signer else None
        return self.repo.commit(dict(files), signer=who)

    def records(self, kind: str) -> list[Record]:
        return self.store.query(kinds=[kind], limit=1000).records

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.admin)

    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.admin)


@pytest.fixture
def audit_store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.fixture
def policy_engine(tmp_path: Path) -> PolicyEvaluator:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "forbidden.rego").write_text(FORBIDDEN_POLICY)
    return PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))


@pytest.fixture
def harness(
    tmp_path: Path,
    keys: Keys,
    signed_repo: SignedRepo,
    audit_store: AuditStore,
    cluster: Cluster,
    reconciler_api: client.ApiClient,
    admin_api: client.ApiClient,
    alice_api: client.ApiClient,
    namespace: str,
    policy_engine: PolicyEvaluator,
) -> Iterator[Harness]:
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys), rules=[{"paths": ["**"], "signers": ["*"]}]
        )
    )
    work = tmp_path / "work"
    work.mkdir()
    found = Harness(
        repo=signed_repo,
        keys=keys,
        store=audit_store,
        kube=KubeClient(reconciler_api),
        admin=admin_api,
        alice=alice_api,
        namespace=namespace,
        trust_file=trust,
        work=work,
        engine=policy_engine,
    )
    yield found
    for reconciler in found.reconcilers:
        reconciler.close()
