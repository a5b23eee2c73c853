"""Object keys: made from manifests, written as subjects, and read back from them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.kube.objects import ObjectKey, api_group, split_api_version

names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,10}[a-z0-9])?", fullmatch=True)
kinds = st.from_regex(r"[A-Z][A-Za-z]{0,12}", fullmatch=True)
groups = st.one_of(st.just(""), st.from_regex(r"[a-z]([a-z0-9.]{0,15}[a-z0-9])?", fullmatch=True))


@given(groups, kinds, st.one_of(st.just(""), names), names)
def test_a_key_written_as_a_subject_reads_back_the_same(
    group: str, kind: str, namespace: str, name: str
) -> None:
    key = ObjectKey(api_group=group, kind=kind, namespace=namespace, name=name)
    assert ObjectKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["source/apps", "", "apps", "apps/v1", "a//b", "Kind"])
def test_subjects_that_name_no_object_parse_to_none(text: str) -> None:
    assert ObjectKey.parse(text) is None


def test_keys_come_from_manifests_with_the_group_of_their_api_version() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    assert ObjectKey.of(manifest, default_namespace="shop") == ObjectKey(
        "apps", "Deployment", "shop", "web"
    )
    assert split_api_version("v1") == ("", "v1")
    assert api_group("networking.k8s.io/v1") == "networking.k8s.io"
