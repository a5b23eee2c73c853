"""End to end: Kustomize and Helm sources go through the same gates as plain YAML."""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import yaml

from gatekeeper.audit import events
from gatekeeper.kube import contract
from gatekeeper.reconcile.reconciler import Reconciler
from gatekeeper.settings.sources import ReconcilerLimits
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _render_refusal(harness: Harness, reconciler: Reconciler, files: dict[str, str]) -> str:
    """Commit `files`, reconcile: the commit is rejected, once, for its render; the message."""
    harness.commit(files)
    result = reconciler.reconcile(harness.name)
    assert result.outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.payload["reasons"][0]["kind"] == "render"
    message: str = rejected.payload["reasons"][0]["message"]
    return message


def test_a_kustomize_source_is_rendered_with_kubectl_and_applied(harness: Harness) -> None:
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namePrefix": "shop-",
        "commonLabels": {"team": "shop"},
        "resources": ["base.yaml"],
        "configMapGenerator": [{"name": "generated", "literals": ["mode=prod"]}],
    }
    sha = harness.commit(
        {
            "apps/kustomization.yaml": yaml.safe_dump(kustomization),
            "apps/base.yaml": config_map("settings", {"color": "blue"}),
        }
    )

    result = harness.reconciler().reconcile(harness.name)

    assert result.outcome == "applied", result.message
    live = harness.core().read_namespaced_config_map("shop-settings", harness.namespace)
    assert live.data == {"color": "blue"}
    assert live.metadata.labels["team"] == "shop"
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == sha
    generated = [
        item
        for item in harness.core().list_namespaced_config_map(harness.namespace).items
        if item.metadata.name.startswith("shop-generated-")
    ]
    assert [item.data for item in generated] == [{"mode": "prod"}]
    (applied,) = harness.records(events.SYNC_APPLIED)
    assert {entry["path"] for entry in applied.payload["objects"]} == {"apps"}


def test_a_kustomization_that_fails_to_build_is_rejected(harness: Harness) -> None:
    files = {"apps/kustomization.yaml": yaml.safe_dump({"resources": ["missing.yaml"]})}

    message = _render_refusal(harness, harness.reconciler(), files)

    assert "kubectl kustomize failed" in message


@pytest.mark.skipif(
    importlib.util.find_spec("helm_python") is None, reason="the helm extra is not installed"
)
def test_a_helm_chart_is_rendered_in_process_and_applied(harness: Harness) -> None:
    chart = {"apiVersion": "v2", "name": "shop", "version": "0.1.0"}
    template = textwrap.dedent(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-settings
        data:
          color: {{ .Values.color | quote }}
        """
    )
    harness.commit(
        {
            "apps/Chart.yaml": yaml.safe_dump(chart),
            "apps/values.yaml": yaml.safe_dump({"color": "green"}),
            "apps/templates/settings.yaml": template,
        }
    )

    result = harness.reconciler().reconcile(harness.name)

    assert result.outcome == "applied", result.message
    live = harness.core().read_namespaced_config_map(f"{harness.name}-settings", harness.namespace)
    assert live.data == {"color": "green"}


def _doubling_kustomization(levels: int) -> dict[str, str]:
    """Each level holds the one below it twice (two suffixes): 2**levels ConfigMaps, and a
    kustomize build whose time grows faster than that."""
    files = {
        "apps/l0/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/l0/cm.yaml": config_map("c", {"k": "v"}),
    }
    for level in range(1, levels + 1):
        for suffix in ("a", "b"):
            files[f"apps/l{level}/{suffix}/kustomization.yaml"] = (
                f"resources: [../../l{level - 1}]\nnameSuffix: -{suffix}\n"
            )
        files[f"apps/l{level}/kustomization.yaml"] = "resources: [a, b]\n"
    files["apps/kustomization.yaml"] = f"resources: [l{levels}]\n"
    return files


@pytest.mark.parametrize(
    ("levels", "limits", "refusal"),
    [
        pytest.param(
            11,  # ten levels took 7.8 s to build on a slow machine, twelve 84 s
            ReconcilerLimits(render_seconds=2),
            "kubectl kustomize ran longer than 2 s (reconciler.limits.renderSeconds)",
            id="time",
        ),
        pytest.param(
            8,  # 21,500 bytes of output
            ReconcilerLimits(max_total_bytes=8192),
            "(kustomize output): over the limit of 8192 bytes (reconciler.limits.maxTotalBytes)",
            id="output",
        ),
    ],
)
def test_a_kustomization_past_its_bounds_is_refused(
    harness: Harness, levels: int, limits: ReconcilerLimits, refusal: str
) -> None:
    files = _doubling_kustomization(levels)

    message = _render_refusal(harness, harness.reconciler(limits=limits), files)

    assert refusal in message


def _chart_files(template: str) -> dict[str, str]:
    chart = {"apiVersion": "v2", "name": "shop", "version": "0.1.0"}
    return {"apps/Chart.yaml": yaml.safe_dump(chart), "apps/templates/t.yaml": template}


GOOD_TEMPLATE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-ok\n"


@pytest.mark.skipif(
    importlib.util.find_spec("helm_python") is None, reason="the helm extra is not installed"
)
@pytest.mark.parametrize(
    ("template", "limits", "refusal"),
    [
        pytest.param(
            # About 40 GB of text: without a bound, the reconciler itself would be killed.
            "{{- range until 500000000 }}\n# {{ . }} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
            "{{- end }}\n",
            ReconcilerLimits(render_memory_bytes=256 * 1024 * 1024),
            "needed more than 268435456 bytes of memory (reconciler.limits.renderMemoryBytes)",
            id="memory",
        ),
        pytest.param(
            # Ten billion empty iterations, in little memory.
            "{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n",
            ReconcilerLimits(render_seconds=3),
            "ran longer than 3 s (reconciler.limits.renderSeconds)",
            id="time",
        ),
        pytest.param(
            "{{- range until 2000 }}\n# {{ . }} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
            "{{- end }}\n" + GOOD_TEMPLATE,
            ReconcilerLimits(max_total_bytes=8192),
            "over the limit of 8192 (reconciler.limits.maxTotalBytes)",
            id="output",
        ),
    ],
)
def test_a_helm_chart_past_its_bounds_is_refused_and_the_next_commit_syncs(
    harness: Harness, template: str, limits: ReconcilerLimits, refusal: str
) -> None:
    reconciler = harness.reconciler(limits=limits)

    message = _render_refusal(harness, reconciler, _chart_files(template))

    assert refusal in message
    harness.commit(_chart_files(GOOD_TEMPLATE))
    assert reconciler.reconcile(harness.name).outcome == "applied"
    assert harness.core().read_namespaced_config_map(f"{harness.name}-ok", harness.namespace)
