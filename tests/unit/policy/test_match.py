from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.policy.match import constraint_matches, selector_matches, wildcard_match

NAMESPACE_LABELS = {"prod": {"env": "prod"}, "dev": {"env": "dev"}}


def labels_of(namespace: str) -> Mapping[str, str] | None:
    return NAMESPACE_LABELS.get(namespace)


def review(
    kind: str = "Pod",
    group: str = "",
    namespace: str = "prod",
    name: str = "web",
    labels: Mapping[str, str] | None = None,
    delete: bool = False,
) -> dict[str, Any]:
    obj = {
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
    }
    return {
        "kind": {"group": group, "version": "v1", "kind": kind},
        "name": name,
        "namespace": namespace,
        "object": None if delete else obj,
        "oldObject": obj if delete else None,
    }


def matches(match: Mapping[str, Any], subject: Mapping[str, Any]) -> bool:
    return constraint_matches(match, subject, namespace_labels=labels_of)


def test_an_empty_match_selects_everything() -> None:
    assert matches({}, review())


def test_kinds_select_by_group_and_kind() -> None:
    match = {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]}
    assert matches(match, review("Deployment", "apps"))
    assert not matches(match, review("Pod", ""))
    assert not matches(match, review("Deployment", "extensions"))
    assert matches({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]}, review("Anything", "x.io"))


def test_namespaces_and_exclusions_accept_prefix_and_suffix_globs() -> None:
    assert matches({"namespaces": ["pro*"]}, review(namespace="prod"))
    assert not matches({"namespaces": ["dev"]}, review(namespace="prod"))
    assert not matches({"excludedNamespaces": ["*od"]}, review(namespace="prod"))
    assert matches({"excludedNamespaces": ["kube-*"]}, review(namespace="prod"))


def test_a_namespace_object_counts_as_being_in_itself() -> None:
    namespace = review("Namespace", namespace="", name="prod")
    assert matches({"namespaces": ["prod"]}, namespace)
    assert not matches({"excludedNamespaces": ["prod"]}, namespace)


def test_namespaces_never_disqualify_an_object_without_a_namespace() -> None:
    # Gatekeeper's matcher: with no namespace there is nothing to compare, so the object
    # stays selected (a cluster-scoped object, or a Pod manifest that names none).
    cluster_role = review("ClusterRole", "rbac.authorization.k8s.io", namespace="")
    assert matches({"namespaces": ["prod"]}, cluster_role)
    assert matches({"namespaces": ["prod"]}, review(namespace=""))
    assert matches({"excludedNamespaces": ["*"]}, review(namespace=""))
    assert not matches({"namespaces": ["dev"]}, review(namespace="prod"))


def test_the_namespace_comes_from_the_request_or_the_manifest() -> None:
    subject = review(namespace="prod")
    subject["namespace"] = ""
    assert not matches({"namespaces": ["dev"]}, subject)
    assert matches({"namespaces": ["prod"]}, subject)


def test_an_update_matches_when_the_old_object_does() -> None:
    subject = review(labels={"tier": "db"})
    subject["oldObject"] = review(labels={"tier": "web"})["object"]
    assert matches({"labelSelector": {"matchLabels": {"tier": "web"}}}, subject)
    assert not matches({"labelSelector": {"matchLabels": {"tier": "cache"}}}, subject)


def test_source_generated_selects_nothing_the_gatekeeper_reviews() -> None:
    assert matches({"source": "All"}, review())
    assert matches({"source": "Original"}, review())
    assert not matches({"source": "Generated"}, review())


def test_a_glob_with_stars_on_both_ends_matches_a_part() -> None:
    assert matches({"namespaces": ["*ro*"]}, review(namespace="prod"))
    assert not matches({"namespaces": ["*ev*"]}, review(namespace="prod"))


def test_a_kinds_entry_without_groups_or_kinds_leaves_that_part_open() -> None:
    assert matches({"kinds": [{"kinds": ["Pod"]}]}, review("Pod", "anything.io"))
    assert matches({"kinds": [{"apiGroups": ["apps"]}]}, review("Deployment", "apps"))
    assert not matches({"kinds": [{"apiGroups": ["apps"]}]}, review("Pod", ""))


def test_scope_treats_an_object_without_a_namespace_as_cluster_scoped() -> None:
    assert matches({"scope": "Cluster"}, review(namespace=""))
    assert not matches({"scope": "Namespaced"}, review(namespace=""))
    namespace = review("Namespace", namespace="", name="prod")
    assert matches({"scope": "Cluster"}, namespace)
    assert not matches({"scope": "Namespaced"}, namespace)


def test_scope_separates_cluster_and_namespaced_objects() -> None:
    cluster = review("ClusterRole", namespace="")
    assert matches({"scope": "Cluster"}, cluster)
    assert not matches({"scope": "Namespaced"}, cluster)
    assert matches({"scope": "Namespaced"}, review())
    assert matches({"scope": "*"}, review())


def test_the_label_selector_reads_the_object_labels() -> None:
    match = {"labelSelector": {"matchLabels": {"tier": "web"}}}
    assert matches(match, review(labels={"tier": "web"}))
    assert not matches(match, review(labels={"tier": "db"}))


def test_a_delete_is_matched_on_the_old_object() -> None:
    match = {"labelSelector": {"matchLabels": {"tier": "web"}}}
    assert matches(match, review(labels={"tier": "web"}, delete=True))


def test_the_namespace_selector_reads_the_namespace_labels() -> None:
    match = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    assert matches(match, review(namespace="prod"))
    assert not matches(match, review(namespace="dev"))
    assert not matches(match, review(namespace="unknown"))
    assert matches(match, review("ClusterRole", namespace=""))


def test_the_name_accepts_globs() -> None:
    assert matches({"name": "web*"}, review(name="web-1"))
    assert not matches({"name": "db"}, review(name="web"))


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "a", "operator": "In", "values": ["1", "2"]}, {"a": "2"}, True),
        ({"key": "a", "operator": "In", "values": ["1"]}, {}, False),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {}, True),
        ({"key": "a", "operator": "NotIn", "values": ["1"]}, {"a": "1"}, False),
        ({"key": "a", "operator": "Exists"}, {"a": ""}, True),
        ({"key": "a", "operator": "DoesNotExist"}, {"a": ""}, False),
    ],
)
def test_match_expressions_follow_kubernetes(
    expression: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert selector_matches({"matchExpressions": [expression]}, labels) is expected


def test_an_unknown_selector_operator_is_an_error() -> None:
    with pytest.raises(ValueError, match="Near"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {})


names = st.text(alphabet="abcdefghij-", min_size=1, max_size=12)


@given(names)
def test_a_star_matches_every_name(name: str) -> None:
    assert wildcard_match("*", name)


@given(names, names)
def test_a_prefix_glob_matches_exactly_the_names_with_that_prefix(prefix: str, name: str) -> None:
    assert wildcard_match(prefix + "*", name) is name.startswith(prefix)
    assert wildcard_match(prefix + "*", prefix + name)


@given(names, names)
def test_a_plain_pattern_matches_only_itself(pattern: str, name: str) -> None:
    assert wildcard_match(pattern, name) is (pattern == name)


labels_strategy = st.dictionaries(names, names, max_size=5)


@given(labels_strategy, labels_strategy)
def test_match_labels_select_exactly_their_supersets(
    wanted: dict[str, str], labels: dict[str, str]
) -> None:
    expected = all(labels.get(k) == v for k, v in wanted.items())
    assert selector_matches({"matchLabels": wanted}, labels) is expected
    assert selector_matches({"matchLabels": wanted}, {**labels, **wanted})
