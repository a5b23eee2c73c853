"""End to end: signed commits reach the cluster, everything else is rejected and recorded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.audit.ledger import Ledger
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube import contract
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import KubeError
from gatekeeper.kube.objects import ObjectKey, ResourceType
from tests.integration.reconcile.conftest import Harness, config_map, deployment

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _live_config_map(harness: Harness, name: str) -> object:
    return harness.core().read_namespaced_config_map(name, harness.namespace)


def test_a_signed_commit_is_applied_with_the_provenance_label_and_annotations(
    harness: Harness,
) -> None:
    sha = harness.commit(
        {
            "apps/settings.yaml": config_map("settings", {"color": "blue"}),
            "apps/web.yaml": deployment("web", "nginx:1.25"),
        }
    )
    result = harness.reconciler().reconcile(harness.name)
    assert result.outcome == "applied", result.message
    assert result.commit == sha

    live = _live_config_map(harness, "settings")
    assert live.data == {"color": "blue"}
    assert live.metadata.labels[contract.MANAGED_LABEL] == "true"
    annotations = live.metadata.annotations
    assert annotations[contract.SOURCE_ANNOTATION] == harness.name
    assert annotations[contract.COMMIT_ANNOTATION] == sha
    rendered = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": harness.namespace},
        "data": {"color": "blue"},
    }
    assert annotations[contract.DIGEST_ANNOTATION] == manifest_digest(rendered)
    managers = {entry.manager for entry in live.metadata.managed_fields}
    assert managers == {"gatekeeper"}

    web = harness.apps().read_namespaced_deployment("web", harness.namespace)
    assert web.metadata.annotations[contract.COMMIT_ANNOTATION] == sha

    ledger = Ledger(harness.store)
    assert ledger.verified_commit(harness.name, sha) is not None
    recorded = ledger.desired(
        harness.name, sha, ObjectKey("", "ConfigMap", harness.namespace, "settings")
    )
    assert recorded is not None
    assert recorded[0] == manifest_digest(rendered)
    assert recorded[1] == "apps/settings.yaml"

    (applied,) = harness.records(events.SYNC_APPLIED)
    assert applied.commit == sha
    objects = {entry["object"]: entry["digest"] for entry in applied.payload["objects"]}
    assert objects[f"ConfigMap/{harness.namespace}/settings"] == manifest_digest(rendered)
    assert f"apps/Deployment/{harness.namespace}/web" in objects


def test_a_second_pass_on_the_same_commit_changes_nothing_and_records_nothing_new(
    harness: Harness,
) -> None:
    harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    before = harness.store.count()
    version = _live_config_map(harness, "settings").metadata.resource_version

    again = reconciler.reconcile(harness.name)

    assert again.outcome == "unchanged"
    assert again.applied == 0
    assert harness.store.count() == before
    assert _live_config_map(harness, "settings").metadata.resource_version == version


@pytest.mark.parametrize("signer", [None, "eve", "mallory"])
def test_an_unsigned_or_untrusted_commit_is_rejected_and_the_cluster_keeps_the_last_good_state(
    harness: Harness, signer: str | None
) -> None:
    good = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"

    bad = harness.commit(
        {
            "apps/settings.yaml": config_map("settings", {"color": "red"}),
            "apps/extra.yaml": config_map("extra", {"a": "b"}),
        },
        signer=signer,
    )
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected"
    assert not result.ok
    live = _live_config_map(harness, "settings")
    assert live.data == {"color": "blue"}
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == good
    with pytest.raises(ApiException) as missing:
        _live_config_map(harness, "extra")
    assert missing.value.status == 404
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.commit == bad
    (reason,) = rejected.payload["reasons"]
    assert reason["kind"] == "untrusted"
    assert reason["commit"] == bad
    assert reason["reason"] == ("unsigned" if signer is None else "unknown_key")
    assert Ledger(harness.store).verified_commit(harness.name, bad) is None


def test_a_rejected_commit_is_recorded_once_however_many_passes_see_it(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    harness.commit({"apps/a.yaml": config_map("a", {"k": "w"})}, signer=None)

    outcomes = [reconciler.reconcile(harness.name).outcome for _ in range(3)]

    assert outcomes == ["rejected"] * 3
    assert len(harness.records(events.SYNC_REJECTED)) == 1


def test_a_policy_violating_commit_applies_nothing_of_it_and_records_every_denial(
    harness: Harness,
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)

    bad = harness.commit(
        {
            "apps/a.yaml": config_map("a", {"k": "changed"}),
            "apps/b.yaml": config_map("b", {"k": "v"}, forbidden="true"),
            "apps/c.yaml": config_map("c", {"k": "v"}, forbidden="true"),
        }
    )
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected"
    assert _live_config_map(harness, "a").data == {"k": "v"}
    for name in ("b", "c"):
        with pytest.raises(ApiException):
            _live_config_map(harness, name)
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.commit == bad
    denials = sorted((reason["object"], reason["policy"]) for reason in rejected.payload["reasons"])
    assert denials == [
        (f"ConfigMap/{harness.namespace}/b", "tests.no_forbidden"),
        (f"ConfigMap/{harness.namespace}/c", "tests.no_forbidden"),
    ]
    assert Ledger(harness.store).verified_commit(harness.name, bad) is None
    denied = harness.records(events.POLICY_DENIED)
    assert [(r.subject, r.commit, r.payload["phase"]) for r in denied] == [
        (f"ConfigMap/{harness.namespace}/b", bad, "sync"),
        (f"ConfigMap/{harness.namespace}/c", bad, "sync"),
    ]


@pytest.mark.parametrize(
    ("files", "kind", "fragment"),
    [
        ({"apps/broken.yaml": "kind: ConfigMap\nmetadata: [unclosed\n"}, "render", "invalid YAML"),
        ({"apps/scalar.yaml": "just a string\n"}, "render", "not a Kubernetes object"),
        (
            {
                "apps/odd.yaml": yaml.safe_dump(
                    {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
                )
            },
            "unknown_kind",
            "serves no Gadget",
        ),
    ],
)
def test_a_commit_that_does_not_render_is_rejected_whole(
    harness: Harness, files: dict[str, str], kind: str, fragment: str
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)

    harness.commit({"apps/a.yaml": config_map("a", {"k": "new"}), **files})
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected"
    assert _live_config_map(harness, "a").data == {"k": "v"}
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert [reason["kind"] for reason in rejected.payload["reasons"]] == [kind]
    assert fragment in rejected.payload["reasons"][0]["message"]


def test_removing_a_file_prunes_its_object_and_records_it(harness: Harness) -> None:
    harness.commit(
        {
            "apps/keep.yaml": config_map("keep", {"k": "v"}),
            "apps/gone.yaml": config_map("gone", {"k": "v"}),
        }
    )
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    assert _live_config_map(harness, "gone").data == {"k": "v"}

    sha = harness.commit({"apps/gone.yaml": None})
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "applied"
    assert result.pruned == 1
    with pytest.raises(ApiException) as gone:
        _live_config_map(harness, "gone")
    assert gone.value.status == 404
    assert _live_config_map(harness, "keep").metadata.annotations[contract.COMMIT_ANNOTATION] == sha
    (pruned,) = harness.records(events.PRUNED)
    assert pruned.subject == f"ConfigMap/{harness.namespace}/gone"
    assert pruned.commit == sha


def test_objects_of_another_source_or_unmanaged_ones_are_never_pruned(harness: Harness) -> None:
    harness.core().create_namespaced_config_map(
        harness.namespace,
        {"metadata": {"name": "handmade"}, "data": {"k": "v"}},
    )
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    harness.commit({"apps/a.yaml": None, "apps/b.yaml": config_map("b", {"k": "v"})})

    reconciler.reconcile(harness.name)

    assert _live_config_map(harness, "handmade").data == {"k": "v"}
    assert [r.subject for r in harness.records(events.PRUNED)] == [
        f"ConfigMap/{harness.namespace}/a"
    ]


def test_prune_false_leaves_removed_objects_in_place(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"}), "apps/b.yaml": config_map("b", {})})
    reconciler = harness.reconciler(harness.source(prune=False))
    reconciler.reconcile(harness.name)
    harness.commit({"apps/a.yaml": None})

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "applied"
    assert _live_config_map(harness, "a").data == {"k": "v"}
    assert harness.records(events.PRUNED) == []


def test_an_api_failure_mid_apply_records_exactly_what_was_and_was_not_applied(
    harness: Harness,
) -> None:
    invalid = yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "no-selector"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}},
        }
    )
    sha = harness.commit({"apps/a.yaml": config_map("a", {"k": "v"}), "apps/bad.yaml": invalid})

    result = harness.reconciler().reconcile(harness.name)

    assert result.outcome == "failed"
    (failed,) = harness.records(events.SYNC_FAILED)
    assert failed.commit == sha
    assert failed.payload["stage"] == "apply"
    assert failed.payload["applied"] == [f"ConfigMap/{harness.namespace}/a"]
    assert failed.payload["not_applied"] == [f"apps/Deployment/{harness.namespace}/no-selector"]
    assert "HTTP 422" in failed.payload["error"]
    assert harness.records(events.SYNC_APPLIED) == []


def test_cluster_wide_objects_are_applied_resynced_without_change_and_pruned(
    harness: Harness,
) -> None:
    name = f"{harness.namespace}-reader"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        # A namespace on a cluster-wide object is ignored, as the API server ignores it.
        "metadata": {"name": name, "namespace": "ignored"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    harness.commit({"apps/role.yaml": yaml.safe_dump(role)})
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    rbac = client.RbacAuthorizationV1Api(harness.admin)
    live = rbac.read_cluster_role(name)
    assert live.metadata.labels[contract.MANAGED_LABEL] == "true"

    again = reconciler.reconcile(harness.name)
    assert (again.outcome, again.applied, again.drifted, again.pruned) == ("unchanged", 0, 0, 0)

    harness.commit({"apps/role.yaml": None, "apps/a.yaml": config_map("a", {})})
    assert reconciler.reconcile(harness.name).pruned == 1
    with pytest.raises(ApiException) as gone:
        rbac.read_cluster_role(name)
    assert gone.value.status == 404


class FlakyKube:
    """The real client, except that the first `failures` applies answer HTTP 503."""

    def __init__(self, real: KubeClient, failures: int) -> None:
        self._real = real
        self.failures = failures
        self.calls = 0

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise KubeError("PATCH: HTTP 503: etcdserver: leader changed", status=503)
        return self._real.apply(manifest, resource)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_transient_api_error_is_retried_with_backoff_and_the_sync_completes(
    harness: Harness,
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    flaky = FlakyKube(harness.kube, failures=2)

    result = harness.reconciler(kube=flaky).reconcile(harness.name)

    assert result.outcome == "applied"
    assert flaky.calls == 3
    assert harness.records(events.SYNC_FAILED) == []


def test_an_api_error_that_persists_fails_the_pass_and_the_next_pass_finishes_the_job(
    harness: Harness,
) -> None:
    sha = harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    flaky = FlakyKube(harness.kube, failures=3)
    reconciler = harness.reconciler(kube=flaky)

    first = reconciler.reconcile(harness.name)
    second = reconciler.reconcile(harness.name)

    assert first.outcome == "failed"
    (failed,) = harness.records(events.SYNC_FAILED)
    assert failed.payload["applied"] == []
    assert failed.payload["not_applied"] == [f"ConfigMap/{harness.namespace}/a"]
    assert "HTTP 503" in failed.payload["error"]
    assert second.outcome == "applied"
    assert second.commit == sha
    assert _live_config_map(harness, "a").data == {"k": "v"}


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def test_a_definition_and_its_custom_resources_in_one_commit_are_applied_in_order_and_pruned(
    harness: Harness,
) -> None:
    group = f"{harness.namespace}.example.com"
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    harness.commit(
        {"apps/crd.yaml": yaml.safe_dump(_crd(group)), "apps/widget.yaml": yaml.safe_dump(widget)}
    )
    reconciler = harness.reconciler()

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "applied", result.message
    custom = client.CustomObjectsApi(harness.admin)
    live = custom.get_namespaced_custom_object(group, "v1", harness.namespace, "widgets", "w1")
    assert live["spec"] == {"size": 3}
    assert live["metadata"]["annotations"][contract.SOURCE_ANNOTATION] == harness.name
    assert reconciler.reconcile(harness.name).outcome == "unchanged"

    harness.commit(
        {"apps/crd.yaml": None, "apps/widget.yaml": None, "apps/a.yaml": config_map("a", {})}
    )
    pruned = reconciler.reconcile(harness.name)

    assert pruned.pruned == 2
    subjects = [record.subject for record in harness.records(events.PRUNED)]
    assert subjects == [
        f"{group}/Widget/{harness.namespace}/w1",
        f"apiextensions.k8s.io/CustomResourceDefinition/widgets.{group}",
    ]


def test_a_namespace_and_the_objects_inside_it_are_applied_in_one_pass(harness: Harness) -> None:
    extra = f"{harness.namespace}-app"
    inside = yaml.safe_load(config_map("inside", {"k": "v"}))
    inside["metadata"]["namespace"] = extra
    harness.commit(
        {
            # File order puts the ConfigMap first; the Namespace must still be created before it.
            "apps/a-config.yaml": yaml.safe_dump(inside),
            "apps/z-namespace.yaml": yaml.safe_dump(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
            ),
        }
    )

    result = harness.reconciler().reconcile(harness.name)

    assert result.outcome == "applied", result.message
    assert harness.core().read_namespaced_config_map("inside", extra).data == {"k": "v"}
    namespace = harness.core().read_namespace(extra)
    assert namespace.metadata.labels[contract.MANAGED_LABEL] == "true"
