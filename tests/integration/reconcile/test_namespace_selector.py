"""Constraints see the cluster as the commit would leave it: namespace labels, and the objects
of `policies.inventory` kinds for referential policies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from gatekeeper.audit import events
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from tests.integration.admission.test_inventory_kinds import ingress, unique_ingress_hosts
from tests.integration.admission.test_namespace_labels import owner_required_in_prod
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _owner_required_in_prod(folder: Path) -> PolicyEvaluator:
    return PolicyEvaluator.from_paths(
        [owner_required_in_prod(folder)], engine=create_engine("regorus")
    )


def _namespace(name: str, **labels: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )


def _in(namespace: str, manifest: str) -> str:
    document = yaml.safe_load(manifest)
    document["metadata"]["namespace"] = namespace
    return yaml.safe_dump(document)


def test_a_namespace_labelled_in_the_same_commit_selects_its_objects(
    harness: Harness, tmp_path: Path
) -> None:
    engine = _owner_required_in_prod(tmp_path / "constraints")
    prod, dev = f"{harness.namespace}-prod", f"{harness.namespace}-dev"
    harness.commit(
        {
            "apps/ns.yaml": _namespace(prod, env="prod") + "---\n" + _namespace(dev, env="dev"),
            "apps/prod.yaml": _in(prod, config_map("settings", {"k": "v"})),
            "apps/dev.yaml": _in(dev, config_map("settings", {"k": "v"})),
        }
    )
    reconciler = harness.reconciler(engine=engine)

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    objects = {reason.get("object") for reason in rejected.payload["reasons"]}
    assert objects == {f"ConfigMap/{prod}/settings"}
    assert "owner" in rejected.payload["reasons"][0]["message"]


def test_a_live_namespace_label_selects_objects_of_a_later_commit(
    harness: Harness, tmp_path: Path
) -> None:
    engine = _owner_required_in_prod(tmp_path / "constraints")
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = harness.reconciler(engine=engine)
    assert reconciler.reconcile(harness.name).outcome == "applied"
    harness.core().patch_namespace(harness.namespace, {"metadata": {"labels": {"env": "prod"}}})
    harness.commit({"apps/a.yaml": config_map("a", {"k": "changed"})})

    assert reconciler.reconcile(harness.name).outcome == "rejected"


def test_a_referential_policy_sees_live_objects_of_the_inventory_kinds(
    harness: Harness, tmp_path: Path
) -> None:
    # Hosts of this test only: Ingresses of every namespace are compared.
    taken, free = f"shop.{harness.namespace}.example.com", f"blog.{harness.namespace}.example.com"
    engine = PolicyEvaluator.from_paths(
        [unique_ingress_hosts(tmp_path / "unique")], engine=create_engine("regorus")
    )
    client.NetworkingV1Api(harness.admin).create_namespaced_ingress(
        harness.namespace, ingress("taken", taken)
    )
    reconciler = harness.reconciler(
        engine=engine, inventory_kinds=(("networking.k8s.io/v1", "Ingress"),)
    )
    harness.commit({"apps/ingress.yaml": yaml.safe_dump(ingress("mine", taken))})

    assert reconciler.reconcile(harness.name).outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert f"conflicts with an existing ingress <{taken}>" in str(rejected.payload)

    harness.commit({"apps/ingress.yaml": yaml.safe_dump(ingress("mine", free))})
    assert reconciler.reconcile(harness.name).outcome == "applied"


def test_a_configured_kind_the_cluster_does_not_serve_does_not_stop_a_sync(
    harness: Harness, tmp_path: Path
) -> None:
    engine = PolicyEvaluator.from_paths(
        [unique_ingress_hosts(tmp_path / "unique")], engine=create_engine("regorus")
    )
    reconciler = harness.reconciler(
        engine=engine,
        inventory_kinds=(("example.com/v1", "Nothing"), ("networking.k8s.io/v1", "Ingress")),
    )
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"})})

    assert reconciler.reconcile(harness.name).outcome == "applied"
