"""The gates' pure checks: each raises `Rejected` with every reason it finds."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.policy.decision import Decision, Message
from gatekeeper.provenance.verdicts import CommitVerdict, RangeVerdict, Reason, SignatureFormat
from gatekeeper.reconcile import checks
from gatekeeper.reconcile.checks import Rejected
from gatekeeper.reconcile.desired import Signature, SkipProvenance
from gatekeeper.reconcile.render import Rendered
from tests.unit.reconcile.fakes import KINDS

GOOD, BAD = "a" * 40, "b" * 40


def _verdict(sha: str, reason: Reason, signer: str | None = "alice") -> CommitVerdict:
    return CommitVerdict(
        sha=sha,
        reason=reason,
        detail="" if reason is Reason.TRUSTED else "no signature",
        format=SignatureFormat.SSH,
        signer=signer,
        key_id="SHA256:k",
        paths=("apps/a.yaml",),
    )


def test_a_trusted_range_gives_the_signature_of_the_target_commit() -> None:
    verdict = RangeVerdict(
        target=GOOD, since=None, mode="strict", commits=(_verdict(GOOD, Reason.TRUSTED),)
    )

    assert checks.provenance(verdict, GOOD) == Signature("alice", "SHA256:k", "ssh")


def test_a_range_with_an_untrusted_commit_is_rejected_naming_it() -> None:
    verdict = RangeVerdict(
        target=GOOD,
        since=None,
        mode="strict",
        commits=(_verdict(BAD, Reason.UNSIGNED, signer=None), _verdict(GOOD, Reason.TRUSTED)),
    )

    with pytest.raises(Rejected) as rejected:
        checks.provenance(verdict, GOOD)

    (reason,) = rejected.value.reasons
    assert (reason["kind"], reason["commit"], reason["reason"]) == ("untrusted", BAD, "unsigned")
    assert reason["message"] == f"commit {BAD[:12]} is not trusted: no signature"


def test_an_untrusted_annotated_tag_on_a_trusted_commit_is_rejected_naming_the_tag() -> None:
    tag = "c" * 40
    verdict = RangeVerdict(
        target=GOOD,
        since=None,
        mode="strict",
        commits=(_verdict(GOOD, Reason.TRUSTED),),
        tag=_verdict(tag, Reason.UNSIGNED, signer=None),
    )

    with pytest.raises(Rejected) as rejected:
        checks.provenance(verdict, GOOD)

    (reason,) = rejected.value.reasons
    assert (reason["kind"], reason["commit"], reason["reason"]) == ("untrusted", tag, "unsigned")
    assert reason["message"] == f"tag {tag[:12]} is not trusted: no signature"


def test_a_named_provenance_skip_passes_with_the_signature_it_carries() -> None:
    skip = SkipProvenance(reason="verified on 2027-01-15", signature=Signature(signer="bob"))

    assert checks.provenance(skip, GOOD) == Signature(signer="bob")


def test_a_missing_verdict_is_refused_rather_than_taken_for_a_skip() -> None:
    with pytest.raises(TypeError, match="needs a verdict or a SkipProvenance"):
        checks.provenance(None, GOOD)  # type: ignore[arg-type]


def test_a_provenance_skip_without_a_reason_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="skipping the provenance gate needs a reason"):
        SkipProvenance(reason=" ")


def _rendered(api_version: str, kind: str, name: str, **metadata: Any) -> Rendered:
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **metadata}}
    return Rendered(path=f"apps/{name}.yaml", manifest=manifest)


def _crd() -> Rendered:
    spec = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets"},
        "versions": [{"name": "v1"}],
    }
    manifest = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": spec,
    }
    return Rendered(path="apps/crd.yaml", manifest=manifest)


def test_kinds_a_commit_defines_itself_are_not_asked_of_the_cluster() -> None:
    rendered = [
        _rendered("v1", "ConfigMap", "a"),
        _crd(),
        _rendered("example.com/v1", "Widget", "w"),
    ]

    assert checks.kinds_to_discover(rendered) == [
        ("v1", "ConfigMap"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ]


def test_namespaced_objects_get_the_source_namespace_and_cluster_wide_ones_lose_theirs() -> None:
    rendered = [
        _rendered("v1", "ConfigMap", "a"),
        _rendered("v1", "ConfigMap", "b", namespace="elsewhere"),
        _rendered("v1", "Namespace", "team", namespace="ignored"),
    ]
    served = {kind: KINDS[kind] for kind in (("v1", "ConfigMap"), ("v1", "Namespace"))}

    objects, resources, custom = checks.resolve(rendered, served=served, namespace="shop")

    assert [str(item.key) for item in objects] == [
        "ConfigMap/shop/a",
        "ConfigMap/elsewhere/b",
        "Namespace/team",
    ]
    assert "namespace" not in objects[2].manifest["metadata"]
    assert resources[objects[0].key].plural == "configmaps"
    assert custom == frozenset()
    assert "namespace" not in rendered[0].manifest["metadata"]  # the input is left as it was


def test_unknown_kinds_and_objects_defined_twice_are_all_named() -> None:
    rendered = [
        _rendered("v1", "ConfigMap", "a"),
        _rendered("example.com/v1", "Gadget", "g"),
        Rendered(path="apps/again.yaml", manifest=_rendered("v1", "ConfigMap", "a").manifest),
    ]
    served: dict[checks.Kind, ResourceType | UnknownKind] = {
        ("v1", "ConfigMap"): KINDS[("v1", "ConfigMap")],
        ("example.com/v1", "Gadget"): UnknownKind("the cluster serves no Gadget in example.com/v1"),
    }

    with pytest.raises(Rejected) as rejected:
        checks.resolve(rendered, served=served, namespace="shop")

    assert [(r["kind"], r["path"]) for r in rejected.value.reasons] == [
        ("unknown_kind", "apps/g.yaml"),
        ("duplicate", "apps/again.yaml"),
    ]


def test_a_custom_resource_is_typed_by_the_definition_in_the_same_commit() -> None:
    rendered = [_crd(), _rendered("example.com/v1", "Widget", "w")]
    crd = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    served = {crd: KINDS[("v1", "Namespace")]}  # any type: the definition's own is not asked

    objects, resources, custom = checks.resolve(rendered, served=served, namespace="shop")

    assert resources[objects[1].key].plural == "widgets"
    assert custom == frozenset({("example.com", "Widget")})


def _item(name: str) -> DesiredObject:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    return DesiredObject(
        key=ObjectKey("", "ConfigMap", "shop", name), path=f"{name}.yaml", manifest=manifest
    )


def _message(action: str, msg: str) -> Message:
    return Message(policy="tests.p", action=action, rule="deny", msg=msg)  # type: ignore[arg-type]


def test_policy_warnings_and_dry_runs_pass_and_are_kept_with_the_policy_set_version() -> None:
    decisions = [
        (_item("a"), Decision.of([_message("warn", "careful")])),
        (_item("b"), Decision.of([_message("dryrun", "would deny")])),
    ]

    found = checks.policies(decisions, version="sha256:v1")

    assert found.version == "sha256:v1"
    assert found.warnings == (
        {"object": "ConfigMap/shop/a", "policy": "tests.p", "message": "careful"},
    )
    assert found.dry_runs == (
        {"object": "ConfigMap/shop/b", "policy": "tests.p", "message": "would deny"},
    )


def test_every_policy_denial_is_named() -> None:
    decisions = [
        (_item("a"), Decision.of([_message("deny", "no")])),
        (_item("b"), Decision.of([])),
        (_item("c"), Decision.of([_message("deny", "never")])),
    ]

    with pytest.raises(Rejected) as rejected:
        checks.policies(decisions, version="sha256:v1")

    assert [r["message"] for r in rejected.value.reasons] == [
        "ConfigMap/shop/a: [tests.p] no",
        "ConfigMap/shop/c: [tests.p] never",
    ]


def test_the_inventory_shows_namespaces_as_the_commit_would_leave_them() -> None:
    live = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "other", "managedFields": []},
        },
    ]
    relabelled = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"tier": "gold"}},
    }
    ours = DesiredObject(key=ObjectKey.of(relabelled), path="ns.yaml", manifest=relabelled)

    found = checks.inventory(live, [ours, _item("a")], kinds=[("v1", "Namespace")])

    assert found == [
        relabelled,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
    ]
