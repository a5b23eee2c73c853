"""End to end on the local kube-apiserver: GitOps repositories as guides lay them out.

An overlay over a shared base with a generator and a component, a remote base refused, Helm
values files and the cluster's capabilities, a locked chart dependency with a matching and a
mismatching digest, dependsOn ordering, createNamespace, and the example repository itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import time
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.reconcile.desired import CREATED_NAMESPACE_ANNOTATION
from tests.integration.reconcile.conftest import Harness, config_map
from tests.integration.reconcile.helmrepo import HelmRepo, chart_files, helm_repo

__all__ = ["helm_repo"]

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "gitops-repo"
needs_helm = pytest.mark.skipif(
    importlib.util.find_spec("helm_python") is None, reason="the helm extra is not installed"
)


def kustomization(**fields: object) -> str:
    return yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", **fields})


def test_an_overlay_over_a_shared_base_with_a_generator_and_a_component_is_applied(
    harness: Harness,
) -> None:
    sha = harness.commit(
        {
            "apps/web/base/kustomization.yaml": kustomization(resources=["cm.yaml"]),
            "apps/web/base/cm.yaml": config_map("settings", {"color": "blue"}),
            "apps/web/components/team/kustomization.yaml": yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1alpha1",
                    "kind": "Component",
                    "commonLabels": {"team": "shop"},
                }
            ),
            "apps/web/overlays/production/kustomization.yaml": kustomization(
                resources=["../../base"],
                components=["../../components/team"],
                patches=[{"path": "patch.yaml"}],
                configMapGenerator=[{"name": "env", "envs": ["prod.env"]}],
            ),
            "apps/web/overlays/production/patch.yaml": config_map("settings", {"color": "red"}),
            "apps/web/overlays/production/prod.env": "MODE=production\n",
        }
    )
    source = harness.source(path="apps/web/overlays/production")

    result = harness.reconciler(source).reconcile(source.name)

    assert result.outcome == "applied", result.message
    live = harness.core().read_namespaced_config_map("settings", harness.namespace)
    assert live.data == {"color": "red"}
    assert live.metadata.labels["team"] == "shop"
    generated = [
        item
        for item in harness.core().list_namespaced_config_map(harness.namespace).items
        if item.metadata.name.startswith("env-")
    ]
    assert [item.data for item in generated] == [{"MODE": "production"}]
    (applied,) = harness.records(events.SYNC_APPLIED)
    assert applied.commit == sha
    assert applied.payload["rendered_from"] == [
        "apps/web/base/cm.yaml",
        "apps/web/base/kustomization.yaml",
        "apps/web/components/team/kustomization.yaml",
        "apps/web/overlays/production/kustomization.yaml",
        "apps/web/overlays/production/patch.yaml",
        "apps/web/overlays/production/prod.env",
    ]


def test_a_remote_base_is_refused_and_recorded(harness: Harness) -> None:
    remote = "https://github.com/example/gitops//apps/base?ref=main"
    harness.commit({"apps/kustomization.yaml": kustomization(resources=[remote])})

    result = harness.reconciler().reconcile(harness.name)

    assert result.outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    (reason,) = rejected.payload["reasons"]
    assert reason["kind"] == "render"
    assert f"{remote} is a remote base" in reason["message"]


@needs_helm
def test_values_files_and_the_clusters_capabilities_shape_a_helm_release(
    harness: Harness,
) -> None:
    files = {f"charts/shop/{k}": v for k, v in chart_files("shop", "0.1.0").items()}
    files["charts/shop/templates/version.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cluster\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        '  coordination: {{ .Capabilities.APIVersions.Has "coordination.k8s.io/v1" | quote }}\n'
    )
    files["charts/shop/values-production.yaml"] = "greeting: from production\n"
    harness.commit(files)
    source = harness.source(
        path="charts/shop",
        render="helm",
        releaseName="storefront",
        valuesFiles=["charts/shop/values-production.yaml"],
    )

    result = harness.reconciler(source).reconcile(source.name)

    assert result.outcome == "applied", result.message
    core = harness.core()
    shop = core.read_namespaced_config_map("storefront-shop", harness.namespace)
    assert shop.data["greeting"] == "from production"
    version = harness.kube.request("GET", "/version")["gitVersion"]
    cluster = core.read_namespaced_config_map("storefront-cluster", harness.namespace)
    assert cluster.data == {"kube": version, "coordination": "true"}
    (applied,) = harness.records(events.SYNC_APPLIED)
    assert "charts/shop/values-production.yaml" in applied.payload["rendered_from"]


def _locked_chart(harness: Harness, repo: HelmRepo, pinned: str) -> dict[str, str]:
    files = {f"apps/{k}": v for k, v in chart_files("app", "1.0.0").items()}
    dependency = {"name": "common", "version": "2.0.0", "repository": repo.url}
    files["apps/Chart.yaml"] = yaml.safe_dump(
        {"apiVersion": "v2", "name": "app", "version": "1.0.0", "dependencies": [dependency]}
    )
    files["apps/Chart.lock"] = yaml.safe_dump(
        {"dependencies": [{**dependency, "digest": pinned}], "digest": "sha256:" + "0" * 64}
    )
    return files


@needs_helm
def test_a_locked_dependency_is_applied_when_its_digest_matches_and_refused_otherwise(
    harness: Harness, helm_repo: HelmRepo
) -> None:
    pinned = helm_repo.publish("common", "2.0.0", greeting="reviewed")
    first = harness.commit(_locked_chart(harness, helm_repo, pinned))
    source = harness.source(render="helm", helmRepositories=[helm_repo.url])
    reconciler = harness.reconciler(source)

    assert reconciler.reconcile(source.name).outcome == "applied"
    live = harness.core().read_namespaced_config_map(f"{source.name}-common", harness.namespace)
    assert live.data["greeting"] == "reviewed"
    (applied,) = harness.records(events.SYNC_APPLIED)
    assert applied.commit == first
    assert [(f["name"], f["digest"]) for f in applied.payload["fetched"]] == [("common", pinned)]

    # The repository now serves other bytes under the same version; a new commit pins the
    # old digest still (a README changes), so its render fetches and refuses them.
    helm_repo.publish("common", "2.0.0", greeting="swapped on the server")
    (harness.work / "helm-charts").exists() and shutil.rmtree(harness.work / "helm-charts")
    second = harness.commit({"apps/README.md": "api chart\n"})

    result = reconciler.reconcile(source.name)

    assert result.outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.commit == second
    (reason,) = rejected.payload["reasons"]
    assert reason["kind"] == "dependency"
    assert (reason["name"], reason["expected"]) == ("common", pinned)
    assert reason["actual"] not in (pinned, None)
    live = harness.core().read_namespaced_config_map(f"{source.name}-common", harness.namespace)
    assert live.data["greeting"] == "reviewed"


def test_a_source_waits_for_the_sources_it_depends_on(harness: Harness) -> None:
    harness.commit(
        {
            "infra/cm.yaml": config_map("infra", {"ready": "yes"}),
            "apps/cm.yaml": config_map("app", {"uses": "infra"}),
        }
    )
    infra = harness.source(name=f"{harness.name}-infra", path="infra")
    app = harness.source(dependsOn=[infra.name])

    # Listed app first: the pass runs infra first all the same.
    results = harness.reconciler(app, infra).run_once()

    assert [(r.source, r.outcome) for r in results] == [
        (infra.name, "applied"),
        (app.name, "applied"),
    ]
    applied = harness.records(events.SYNC_APPLIED)
    assert [r.source for r in applied] == [infra.name, app.name]


def test_a_source_whose_dependency_is_rejected_waits_and_applies_nothing(
    harness: Harness,
) -> None:
    harness.commit(
        {
            "infra/kustomization.yaml": kustomization(resources=["missing.yaml"]),
            "apps/cm.yaml": config_map("app", {"uses": "infra"}),
        }
    )
    infra = harness.source(name=f"{harness.name}-infra", path="infra")
    app = harness.source(dependsOn=[infra.name])

    results = harness.reconciler(infra, app).run_once()

    assert [r.outcome for r in results] == ["rejected", "waiting"]
    assert f"{infra.name} has not synced yet" in results[1].message
    assert harness.records(events.SYNC_APPLIED) == []
    with pytest.raises(ApiException):
        harness.core().read_namespaced_config_map("app", harness.namespace)


def test_create_namespace_makes_the_target_namespace_and_never_prunes_it(
    harness: Harness,
) -> None:
    target = f"{harness.namespace}-new"
    harness.commit({"apps/cm.yaml": config_map("settings", {"k": "v"})})
    source = harness.source(namespace=target, createNamespace=True)
    try:
        result = harness.reconciler(source).reconcile(source.name)

        assert result.outcome == "applied", result.message
        created = harness.core().read_namespace(target)
        assert created.metadata.annotations[CREATED_NAMESPACE_ANNOTATION] == source.name
        assert harness.core().read_namespaced_config_map("settings", target).data == {"k": "v"}
        (applied,) = harness.records(events.SYNC_APPLIED)
        assert {"path": "(createNamespace)"}.items() <= next(
            o for o in applied.payload["objects"] if "Namespace" in o["object"]
        ).items()

        # The source stops asking for it (and the commit moves on): the namespace stays.
        harness.commit({"apps/cm.yaml": config_map("settings", {"k": "w"})})
        again = harness.source(namespace=target)
        assert harness.reconciler(again).reconcile(again.name).outcome == "applied"
        assert harness.records("sync.pruned") == []
        assert harness.core().read_namespace(target).status.phase == "Active"
    finally:
        harness.core().delete_namespace(target)


@needs_helm
def test_the_example_repository_syncs_through_the_shipped_policies(harness: Harness) -> None:
    files = {
        str(path.relative_to(EXAMPLE)): path.read_text()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file()
    }
    # The overlay's namespace becomes the test's own (a namespace never finishes terminating
    # on a control plane without controllers, so fixed names cannot be cleaned up).
    overlay = "apps/web/overlays/staging/kustomization.yaml"
    files[overlay] = files[overlay].replace(
        "namespace: web-staging", f"namespace: {harness.namespace}"
    )
    harness.commit(files)
    engine = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine("regorus"))
    web = harness.source(name=f"{harness.name}-web", path="apps/web/overlays/staging")
    api = harness.source(
        name=f"{harness.name}-api",
        path="charts/api",
        render="helm",
        releaseName="api",
        valuesFiles=["charts/api/values-production.yaml"],
        namespace=f"{harness.namespace}-api",
        createNamespace=True,
        dependsOn=[web.name],
    )
    reconciler = harness.reconciler(web, api, engine=engine)
    try:
        started = time.monotonic()
        results = reconciler.run_once()
        elapsed = time.monotonic() - started

        assert results[0].outcome == "applied", results[0].message
        # web's Deployment never becomes healthy here (no controllers run), so api waits.
        assert results[1].outcome == "waiting"
        deployment = harness.apps().read_namespaced_deployment("web", harness.namespace)
        assert "@sha256:" in deployment.spec.template.spec.containers[0].image
        (applied,) = harness.records(events.SYNC_APPLIED)
        assert "apps/web/base/deployment.yaml" in applied.payload["rendered_from"]
        assert applied.payload["policy_results"]["denials"] == 0
        print(
            f"example repository: staging overlay rendered, checked and applied in {elapsed:.2f} s"
        )
    finally:
        with contextlib.suppress(ApiException):
            harness.core().delete_namespace(f"{harness.namespace}-api")
