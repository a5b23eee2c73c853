"""PolicyReports on the local kube-apiserver: written from the reconciler's passes and the
webhook's decisions as they reach the audit log, kept across a restart, bounded."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gatekeeper.admission.ports import PolicyFinding
from gatekeeper.admission.verdict import Verdict
from gatekeeper.audit import events
from gatekeeper.audit.follow import LogFollower
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policyreport.report import API_VERSION
from gatekeeper.policyreport.writer import CURSOR, PolicyReportWriter
from tests.integration.reconcile.conftest import FORBIDDEN_POLICY, Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[3]
CRDS = ROOT / "charts" / "gitops-gatekeeper" / "files" / "policyreport-crds.yaml"

TEAM_POLICY = textwrap.dedent(
    """\
    # METADATA
    # title: Objects name their team
    # custom:
    #   enforcement: warn
    package tests.team_label

    import rego.v1

    deny contains msg if {
    \tnot input.review.object.metadata.labels.team
    \tmsg := sprintf("%s has no team label", [input.review.object.metadata.name])
    }
    """
)
SIZE_POLICY = textwrap.dedent(
    """\
    # METADATA
    # title: Trying out a size limit
    # custom:
    #   enforcement: dryrun
    package tests.size_limit

    import rego.v1

    deny contains msg if {
    \tinput.review.object.data.size == "xl"
    \tmsg := "size xl is too large"
    }
    """
)


def install_crds(kube: KubeClient) -> None:
    crd = kube.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    for document in yaml.safe_load_all(CRDS.read_text()):
        with contextlib.suppress(Conflict):
            kube.create(crd, document)
        kube.wait_established(document["metadata"]["name"])
    kube.forget(API_VERSION)


@pytest.fixture
def admin_kube(admin_api: client.ApiClient) -> KubeClient:
    kube = KubeClient(admin_api)
    install_crds(kube)
    return kube


@pytest.fixture
def policy_engine(tmp_path: Path) -> PolicyEvaluator:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "forbidden.rego").write_text(FORBIDDEN_POLICY)
    (folder / "team.rego").write_text(TEAM_POLICY)
    (folder / "size.rego").write_text(SIZE_POLICY)
    return PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))


def _follower(harness: Harness, *, max_results: int = 1000) -> LogFollower:
    # The report is named after the test's namespace: the ClusterPolicyReport is shared.
    writer = PolicyReportWriter(harness.kube, name=harness.name, max_results=max_results)
    return LogFollower(harness.store, name=CURSOR, consumer=writer)


def _report(harness: Harness, kube: KubeClient, namespace: str | None) -> dict[str, Any]:
    kind = "PolicyReport" if namespace else "ClusterPolicyReport"
    found = kube.get(kube.resource_for(API_VERSION, kind), harness.name, namespace)
    assert found is not None, f"no {kind} {harness.name}"
    return dict(found)


def _by_object(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["resources"][0]["name"], r["policy"], r["rule"]): r for r in report["results"]}


def _denied_admission(namespace: str, name: str) -> events.NewEvent:
    """The record the webhook writes when a policy refuses a create."""
    verdict = Verdict(
        allowed=False,
        event_kind=events.ADMISSION_DENIED,
        subject=f"ConfigMap/{namespace}/{name}",
        reasons=("tests.no_forbidden: d is labelled forbidden",),
        message="denied",
        findings=(
            PolicyFinding(
                policy="tests.no_forbidden", action="deny", message="d is labelled forbidden"
            ),
        ),
    )
    request: Any = {
        "uid": "u-1",
        "userInfo": {"username": "alice", "groups": ["developers"]},
        "operation": "CREATE",
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "subResource": "",
        "dryRun": False,
    }
    return verdict.event(request)


def test_a_pass_and_an_admission_denial_become_the_namespace_policy_report(
    harness: Harness, admin_kube: KubeClient
) -> None:
    follower = _follower(harness)
    follower.position()
    harness.commit(
        {
            "apps/a.yaml": config_map("a", {"size": "xl"}),
            "apps/b.yaml": config_map("b", {"size": "s"}, team="shop"),
        }
    )
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    assert follower.drain(10.0)

    report = _report(harness, admin_kube, harness.namespace)
    results = _by_object(report)
    assert report["summary"] == {"pass": 1, "fail": 1, "warn": 1, "error": 0, "skip": 0}
    warned = results[("a", "tests.team_label", "sync")]
    assert warned["result"] == "warn"
    assert warned["message"] == "a has no team label"
    assert warned["source"] == "gitops-gatekeeper"
    assert warned["resources"] == [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "namespace": harness.namespace}
    ]
    assert results[("a", "tests.size_limit", "sync")]["result"] == "fail"
    assert results[("a", "tests.size_limit", "sync")]["properties"]["action"] == "dryrun"
    passed = results[("b", "policy-set", "sync")]
    assert passed["result"] == "pass"
    assert passed["properties"]["commit"] == harness.records(events.SYNC_APPLIED)[0].commit

    # A commit the policies refuse, and a create the webhook refused.
    harness.commit({"apps/c.yaml": config_map("c", {}, forbidden="true", team="shop")})
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    harness.store.append(_denied_admission(harness.namespace, "d"))
    assert follower.drain(10.0)

    results = _by_object(_report(harness, admin_kube, harness.namespace))
    assert results[("c", "tests.no_forbidden", "sync")]["result"] == "fail"
    assert "labelled forbidden" in results[("c", "tests.no_forbidden", "sync")]["message"]
    denied = results[("d", "tests.no_forbidden", "admission")]
    assert denied["result"] == "fail"
    assert denied["properties"]["auditSeq"] == str(harness.store.head()[0])
    assert ("a", "tests.team_label", "sync") in results  # earlier results stay


def test_a_restarted_writer_keeps_the_results_and_applies_new_ones(
    harness: Harness, admin_kube: KubeClient
) -> None:
    first = _follower(harness)
    first.position()
    harness.commit(
        {"apps/a.yaml": config_map("a", {}), "apps/b.yaml": config_map("b", {}, team="x")}
    )
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    assert first.drain(10.0)
    before = _report(harness, admin_kube, harness.namespace)

    # Git drops `a` while no writer runs: its results go when the new one catches up.
    harness.commit({"apps/a.yaml": None})
    reconciler.reconcile(harness.name)
    second = _follower(harness)
    assert second.drain(10.0)

    after = _report(harness, admin_kube, harness.namespace)
    assert {key[0] for key in _by_object(before)} == {"a", "b"}
    assert set(_by_object(after)) == {("b", "policy-set", "sync")}
    assert after["summary"]["pass"] == 1
    assert after["metadata"]["uid"] == before["metadata"]["uid"]


def test_cluster_scoped_objects_go_to_the_cluster_policy_report_bounded_in_size(
    harness: Harness, admin_kube: KubeClient
) -> None:
    follower = _follower(harness, max_results=3)
    follower.position()
    for n in range(5):
        harness.store.append(
            events.NewEvent(
                kind=events.POLICY_DENIED,
                actor="gatekeeper-reconciler",
                subject=f"rbac.authorization.k8s.io/ClusterRole/{harness.name}-{n}",
                source=harness.name,
                commit="c" * 40,
                payload={
                    "phase": "sync",
                    "messages": [{"policy": "library.no_wildcard_rbac", "msg": f"role {n}"}],
                },
            )
        )
    assert follower.drain(10.0)
    try:
        report = _report(harness, admin_kube, None)
        names = sorted(r["resources"][0]["name"] for r in report["results"])
        assert names == [f"{harness.name}-{n}" for n in (2, 3, 4)]  # the oldest made way
        assert report["summary"]["fail"] == 3
        assert report["kind"] == "ClusterPolicyReport"
    finally:
        admin_kube.delete(admin_kube.resource_for(API_VERSION, "ClusterPolicyReport"), harness.name)
