"""Provenance metadata: annotate and strip are inverse, and the digest is of Git's manifest."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.canonical import manifest_digest
from gatekeeper.kube import contract as meta

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10)
label_maps = st.dictionaries(names, names, max_size=3)


@given(labels=label_maps, annotations=label_maps, name=names)
def test_strip_undoes_annotate(
    labels: dict[str, str], annotations: dict[str, str], name: str
) -> None:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "b"}}
    annotated = meta.annotate(manifest, source="apps", commit="c" * 40)
    assert meta.strip(annotated) == manifest
    assert meta.is_managed(annotated)
    assert not meta.is_managed(manifest)


def test_the_digest_is_of_the_manifest_before_annotation() -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    annotated = meta.annotate(manifest, source="apps", commit="a" * 40)
    found = meta.read(annotated)
    assert found == meta.ProvenanceMeta("apps", "a" * 40, manifest_digest(manifest))
    assert manifest == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}


def test_an_object_missing_any_annotation_has_no_provenance() -> None:
    annotated = meta.annotate({"metadata": {"name": "x"}}, source="s", commit="c")
    del annotated["metadata"]["annotations"][meta.COMMIT_ANNOTATION]
    assert meta.read(annotated) is None
    assert meta.read(None) is None
    assert meta.read({"metadata": {"annotations": {meta.SOURCE_ANNOTATION: ""}}}) is None
