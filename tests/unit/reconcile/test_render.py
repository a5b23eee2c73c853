"""Plain YAML rendering: documents, lists, paths, and what is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gatekeeper.reconcile import render
from gatekeeper.reconcile.errors import RenderError
from gatekeeper.settings import ReconcilerLimits


def test_every_document_of_every_yaml_file_is_rendered_with_its_repository_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n"
    )
    (tmp_path / "sub" / "b.yml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: three}}\n"
    )
    (tmp_path / "README.md").write_text("not a manifest")
    (tmp_path / ".hidden.yaml").write_text("ignored: true")

    found = render.render(tmp_path, mode="auto", origin="apps", release="r").objects

    assert [(item.path, item.manifest["metadata"]["name"]) for item in found] == [
        ("apps/a.yaml", "one"),
        ("apps/a.yaml", "two"),
        ("apps/sub/b.yml", "three"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: [", "invalid YAML"),
        ("- a\n- b\n", "not a Kubernetes object (a list)"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\n", "has no metadata.name"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ''}\n", "empty metadata.name"),
    ],
)
def test_anything_that_is_not_a_kubernetes_object_is_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(text)

    with pytest.raises(RenderError, match=r"apps/bad\.yaml") as refused:
        render.render(tmp_path, mode="yaml", origin="apps", release="r")

    assert message in str(refused.value)


def test_auto_picks_kustomize_or_helm_by_the_files_present(tmp_path: Path) -> None:
    assert render.detect(tmp_path) == "yaml"
    (tmp_path / "Chart.yaml").write_text("name: x")
    assert render.detect(tmp_path) == "helm"
    (tmp_path / "kustomization.yaml").write_text("resources: []")
    assert render.detect(tmp_path) == "kustomize"


def test_a_missing_directory_is_a_render_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no such directory"):
        render.render(tmp_path / "nope", mode="auto", origin="nope", release="r")


def test_a_helm_chart_without_the_helm_extra_is_refused_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry makes `import helm_python` fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "helm_python", None)
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")

    with pytest.raises(RenderError) as refused:
        render.render(tmp_path, mode="auto", origin="charts/shop", release="r")

    assert "gitops-gatekeeper[helm]" in str(refused.value)


def test_a_date_in_a_config_map_is_the_text_written_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  released: 2024-01-01\n"
    )

    (found,) = render.render(tmp_path, mode="yaml", origin="apps", release="r").objects

    assert found.manifest["data"] == {"released": "2024-01-01"}


def test_an_object_over_the_size_limit_is_refused_naming_it_and_its_size(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + "a" * 5000 + "\n"
    )
    limits = ReconcilerLimits(max_object_bytes=4096)

    with pytest.raises(RenderError) as refused:
        render.render(tmp_path, mode="yaml", origin="apps", release="r", limits=limits)

    assert str(refused.value).startswith("apps/big.yaml (document 1): ConfigMap big is 50")
    assert "over the limit of 4096 per object (reconciler.limits.maxObjectBytes)" in str(
        refused.value
    )


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("{name: x, namespace: [a]}", "metadata.namespace is not text"),
        ("{name: x, labels: [a]}", "metadata.labels is not a map"),
        ("{name: x, annotations: 3}", "metadata.annotations is not a map"),
    ],
)
def test_metadata_of_the_wrong_shape_is_refused(
    tmp_path: Path, metadata: str, message: str
) -> None:
    (tmp_path / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {metadata}\n")

    with pytest.raises(RenderError, match=message):
        render.render(tmp_path, mode="yaml", origin="apps", release="r")


def test_a_file_over_the_size_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    (tmp_path / "huge.yaml").write_bytes(b"#" * 10_000)
    limits = ReconcilerLimits(max_file_bytes=4096)

    with pytest.raises(RenderError, match=r"apps/huge\.yaml: 10000 bytes, over the limit of 4096"):
        render.render(tmp_path, mode="yaml", origin="apps", release="r", limits=limits)
