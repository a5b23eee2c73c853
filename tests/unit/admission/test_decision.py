"""The pure admission decision, with an in-memory ledger and policies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gatekeeper.admission.decision import review, undecided
from gatekeeper.admission.ports import PolicyFinding
from gatekeeper.audit import events
from gatekeeper.kube import contract
from gatekeeper.settings import AdmissionSettings
from tests.unit.admission.doubles import (
    COMMIT,
    OTHER_COMMIT,
    PATH,
    RECONCILER,
    SOURCE,
    MemoryLedger,
    MemoryPolicies,
    deployment,
    live,
    request,
)

SETTINGS = AdmissionSettings(
    reconciler_identity=RECONCILER,
    guarded_kinds=["Deployment"],
    exempt_users=["system:serviceaccount:kube-system:hpa"],
    exempt_groups=["system:nodes"],
)


@pytest.fixture
def ledger() -> MemoryLedger:
    found = MemoryLedger()
    found.record(deployment())
    return found


@pytest.fixture
def policies() -> MemoryPolicies:
    return MemoryPolicies()


def _edited(obj: dict[str, Any], image: str = "nginx:evil") -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return changed


def test_the_reconciler_applying_a_verified_commit_is_admitted(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("CREATE", obj=live(deployment()), user=RECONCILER, groups=()),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed, verdict.message
    assert verdict.event_kind == events.ADMISSION_ALLOWED
    assert verdict.commit == COMMIT
    ((_, facts),) = policies.calls
    assert facts.verified and facts.path == PATH and facts.signer == "alice"


def test_the_reconciler_updating_to_a_new_verified_commit_is_admitted(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    newer = deployment(image="nginx:1.28")
    ledger.record(newer, commit=OTHER_COMMIT)
    verdict = review(
        request(
            "UPDATE",
            obj=live(newer, commit=OTHER_COMMIT),
            old=live(deployment()),
            user=RECONCILER,
        ),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed, verdict.message
    assert verdict.commit == OTHER_COMMIT


def test_the_reconciler_with_an_unverified_commit_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("CREATE", obj=live(deployment(), commit=OTHER_COMMIT), user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert (
        f"commit {OTHER_COMMIT} of source {SOURCE} is not recorded as verified" in verdict.message
    )
    assert policies.calls == []


def test_the_reconciler_with_a_digest_that_does_not_match_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    obj = live(deployment())
    obj["metadata"]["annotations"][contract.DIGEST_ANNOTATION] = "sha256:" + "0" * 64
    verdict = review(
        request("CREATE", obj=obj, user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "is not the digest" in verdict.message and PATH in verdict.message


def test_the_reconciler_with_an_object_that_disagrees_with_git_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("CREATE", obj=_edited(live(deployment())), user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "spec.template.spec.containers[name=main].image" in verdict.message


def test_the_reconciler_with_an_object_the_commit_does_not_contain_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("CREATE", obj=live(deployment(name="api")), user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "no desired manifest is recorded" in verdict.message


def test_the_reconciler_pruning_a_managed_object_is_admitted(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("DELETE", old=live(deployment()), user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed


def test_a_human_updating_a_managed_object_is_refused_with_where_to_change_it(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    verdict = review(
        request("UPDATE", obj=_edited(old), old=old),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert verdict.event_kind == events.ADMISSION_DENIED
    assert verdict.message.startswith("UPDATE of apps/Deployment/shop/web refused")
    assert "managed from Git" in verdict.message
    assert f"source {SOURCE}, path {PATH}" in verdict.message
    assert verdict.response("uid-1", audit_seq=7)["status"]["code"] == 403


@pytest.mark.parametrize("operation", ["DELETE", "UPDATE"])
def test_a_human_deleting_or_relabelling_a_managed_object_is_refused(
    operation: str, ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    new = None
    if operation == "UPDATE":
        new = copy.deepcopy(old)
        del new["metadata"]["labels"][contract.MANAGED_LABEL]
    verdict = review(
        request(operation, obj=new, old=old), settings=SETTINGS, ledger=ledger, policies=policies
    )
    assert not verdict.allowed


def test_a_human_forging_provenance_annotations_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("CREATE", obj=live(deployment())),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "only the reconciler" in verdict.message
    assert contract.COMMIT_ANNOTATION in verdict.message


def test_a_human_adding_only_the_managed_label_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
    }
    labelled = copy.deepcopy(config_map)
    labelled["metadata"]["labels"] = {contract.MANAGED_LABEL: "true"}
    verdict = review(
        request("UPDATE", obj=labelled, old=config_map),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert contract.MANAGED_LABEL in verdict.message


def test_break_glass_lifts_the_git_requirement_and_is_recorded_as_breakglass(
    ledger: MemoryLedger,
) -> None:
    policies = MemoryPolicies(
        findings=(
            PolicyFinding(
                policy="library.provenance_verified", action="deny", message="unverified"
            ),
            PolicyFinding(policy="library.probes", action="warn", message="add probes"),
        )
    )
    old = live(deployment())
    new = _edited(old, "nginx:1.27.1")
    new["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-42 outage"
    verdict = review(
        request("UPDATE", obj=new, old=old, user="bob", groups=("gatekeeper:break-glass",)),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed, verdict.message
    assert verdict.event_kind == events.BREAKGLASS
    assert verdict.break_glass_reason == "INC-42 outage"
    assert verdict.warnings == ("[library.probes] add probes",)
    event = verdict.event(request("UPDATE", obj=new, old=old, user="bob"))
    assert event.kind == "breakglass" and event.actor == "bob"
    assert event.payload["break_glass_reason"] == "INC-42 outage"
    assert event.subject == "apps/Deployment/shop/web"


def test_break_glass_does_not_lift_the_other_policies(ledger: MemoryLedger) -> None:
    policies = MemoryPolicies(
        findings=(
            PolicyFinding(policy="library.no_privileged", action="deny", message="privileged"),
        )
    )
    old = live(deployment())
    new = _edited(old)
    new["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-42"
    verdict = review(
        request("UPDATE", obj=new, old=old, user="bob", groups=("gatekeeper:break-glass",)),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "[library.no_privileged] privileged" in verdict.message
    assert verdict.break_glass_reason == "INC-42"


def test_the_break_glass_annotation_from_someone_outside_the_group_changes_nothing(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    new = _edited(old)
    new["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "please"
    verdict = review(
        request("UPDATE", obj=new, old=old), settings=SETTINGS, ledger=ledger, policies=policies
    )
    assert not verdict.allowed


def test_a_guarded_kind_is_created_only_by_a_controller_for_its_owner_under_the_policies(
    ledger: MemoryLedger,
) -> None:
    policies = MemoryPolicies(
        findings=(PolicyFinding(policy="library.no_privileged", action="deny", message="root"),)
    )
    created = deployment(name="side")
    verdict = review(
        request("CREATE", obj=created), settings=SETTINGS, ledger=ledger, policies=policies
    )
    assert not verdict.allowed
    assert "created only by the reconciler" in verdict.message
    # An owner reference is the requester's own claim: it exempts nothing for a human.
    created["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "mine", "uid": "1", "controller": True}
    ]
    claimed = review(
        request("CREATE", obj=created), settings=SETTINGS, ledger=ledger, policies=policies
    )
    assert not claimed.allowed
    assert "created only by the reconciler" in claimed.message
    # Kubernetes' own controller may create it, and the policies still decide.
    by_controller = review(
        request("CREATE", obj=created, user="system:kube-controller-manager", groups=()),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not by_controller.allowed
    assert "[library.no_privileged] root" in by_controller.message
    clean = review(
        request("CREATE", obj=created, user="system:kube-controller-manager", groups=()),
        settings=SETTINGS,
        ledger=ledger,
        policies=MemoryPolicies(),
    )
    assert clean.allowed and clean.reasons == ("created by a controller for its owner",)


def _derived(obj: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet-like object a controller made from a managed Deployment."""
    made = copy.deepcopy(obj)
    made["kind"] = "ReplicaSet"
    made["metadata"]["name"] = "web-5d8f"
    made["metadata"]["labels"].pop(contract.MANAGED_LABEL, None)
    made["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "9"}
        | {"controller": True}
    ]
    return made


def test_break_glass_cannot_forge_or_strip_the_marks_of_an_object_claiming_an_owner(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    forged = copy.deepcopy(old)
    forged["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-9"
    forged["metadata"]["annotations"][contract.COMMIT_ANNOTATION] = "f" * 40
    forged["metadata"]["ownerReferences"] = _derived(old)["metadata"]["ownerReferences"]
    bob = {"user": "bob", "groups": ("gatekeeper:break-glass",)}
    verdict = review(
        request("UPDATE", obj=forged, old=old, **bob),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert contract.COMMIT_ANNOTATION in verdict.message and "may not" in verdict.message
    # Stripping the marks of an object that already claims an owner is forgery too.
    rs = _derived(old)
    stripped = copy.deepcopy(rs)
    del stripped["metadata"]["ownerReferences"]
    for key in contract.PROVENANCE_ANNOTATIONS:
        del stripped["metadata"]["annotations"][key]
    stripped["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-9"
    verdict = review(
        request("UPDATE", obj=stripped, old=rs, **bob),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed and "may not" in verdict.message
    # Break-glass still lets the same person change such an object, marks kept.
    scaled = copy.deepcopy(rs)
    scaled["spec"]["replicas"] = 5
    scaled["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-9"
    verdict = review(
        request("UPDATE", obj=scaled, old=rs, **bob),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed and verdict.event_kind == events.BREAKGLASS


def test_a_refused_forgery_is_recorded_with_the_source_and_commit_it_tampered_with(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    stripped = copy.deepcopy(old)
    del stripped["metadata"]["annotations"][contract.COMMIT_ANNOTATION]
    forgery = request("UPDATE", obj=stripped, old=old)
    verdict = review(forgery, settings=SETTINGS, ledger=ledger, policies=policies)
    assert not verdict.allowed
    assert verdict.commit == COMMIT
    event = verdict.event(forgery)
    assert (event.source, event.commit) == (SOURCE, COMMIT)
    assert verdict.response("u", audit_seq=1)["auditAnnotations"]["commit"] == COMMIT


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sub_resource": "status"}, "subresource status is exempt"),
        ({"user": "system:serviceaccount:kube-system:hpa"}, "is exempt"),
        ({"groups": ("system:nodes",)}, "group system:nodes is exempt"),
    ],
)
def test_exempt_requests_are_admitted_without_policies(
    changes: dict[str, Any], reason: str, ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    verdict = review(
        request("UPDATE", obj=_edited(old), old=old, **changes),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed
    assert reason in verdict.reasons[0]
    assert policies.calls == []


def test_exempt_and_unguarded_namespaces_are_left_alone(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    in_kube_system = live(deployment(namespace="kube-system"))
    verdict = review(
        request("UPDATE", obj=_edited(in_kube_system), old=in_kube_system),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed and verdict.reasons == ("namespace kube-system is exempt",)
    only_prod = AdmissionSettings(reconciler_identity=RECONCILER, guarded_namespaces=["prod-*"])
    old = live(deployment())
    verdict = review(
        request("UPDATE", obj=_edited(old), old=old),
        settings=only_prod,
        ledger=ledger,
        policies=policies,
    )
    assert verdict.allowed and verdict.reasons == ("namespace shop is not guarded",)


def test_policies_decide_unmanaged_objects_and_warnings_come_back(
    ledger: MemoryLedger,
) -> None:
    policies = MemoryPolicies(
        findings=(
            PolicyFinding(policy="library.no_latest_tag", action="deny", message="tag latest"),
            PolicyFinding(policy="library.labels", action="warn", message="add team label"),
            PolicyFinding(policy="library.nodeport", action="dryrun", message="nodeport"),
        )
    )
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
    }
    verdict = review(
        request("CREATE", obj=config_map), settings=SETTINGS, ledger=ledger, policies=policies
    )
    assert not verdict.allowed
    assert "[library.no_latest_tag] tag latest" in verdict.message
    assert "nodeport" not in verdict.message
    assert verdict.warnings == ("[library.labels] add team label",)
    response = verdict.response("u", audit_seq=3)
    assert response["warnings"] == ["[library.labels] add team label"]
    assert response["auditAnnotations"]["audit-seq"] == "3"
    event = verdict.event(request("CREATE", obj=config_map))
    assert {p["action"] for p in event.payload["policies"]} == {"deny", "warn", "dryrun"}
    assert event.payload["policy_set_version"] == "sha256:test-policies"


def test_dry_run_requests_are_decided_and_marked_as_dry_run(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    dry = request("UPDATE", obj=_edited(old), old=old, dry_run=True)
    verdict = review(dry, settings=SETTINGS, ledger=ledger, policies=policies)
    assert not verdict.allowed
    assert verdict.event(dry).payload["dry_run"] is True


def test_an_undecided_request_on_a_managed_object_is_refused_whatever_the_configuration() -> None:
    lenient = AdmissionSettings(reconciler_identity=RECONCILER, fail_closed=False)
    old = live(deployment())
    managed = undecided(
        request("UPDATE", obj=old, old=old), settings=lenient, cause="the audit store is down"
    )
    assert not managed.allowed
    assert "the audit store is down" in managed.message
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
    }
    unmanaged = undecided(request("CREATE", obj=config_map), settings=lenient, cause="down")
    assert unmanaged.allowed and unmanaged.warnings
    strict = undecided(request("CREATE", obj=config_map), settings=SETTINGS, cause="down")
    assert not strict.allowed


def test_an_undecided_request_in_an_exempt_namespace_stays_allowed() -> None:
    in_kube_system = live(deployment(namespace="kube-system"))
    verdict = undecided(
        request("UPDATE", obj=in_kube_system, old=in_kube_system),
        settings=SETTINGS,
        cause="the audit store is down",
    )
    assert verdict.allowed
    assert verdict.reasons[0] == "namespace kube-system is exempt"


def test_the_reconciler_pruning_an_object_of_an_unverified_commit_is_refused(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    verdict = review(
        request("DELETE", old=live(deployment(), commit=OTHER_COMMIT), user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "is not recorded as verified" in verdict.message


def test_the_reconciler_may_not_drop_the_provenance_annotations(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    old = live(deployment())
    bare = copy.deepcopy(old)
    del bare["metadata"]["annotations"][contract.COMMIT_ANNOTATION]
    verdict = review(
        request("UPDATE", obj=bare, old=old, user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert not verdict.allowed
    assert "without all provenance annotations" in verdict.message


def test_the_reconciler_creating_a_namespace_of_a_verified_commit_is_admitted(
    policies: MemoryPolicies,
) -> None:
    """kube-apiserver fills a Namespace's review with `namespace` = its own name, but the
    object is cluster-scoped and recorded so: the ledger lookup must not use that namespace
    (on a real node the reconciler's Namespace was refused as `Namespace/shop/shop`)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    ledger = MemoryLedger()
    ledger.record(namespace)
    applied = contract.annotate(namespace, source=SOURCE, commit=COMMIT)
    applied["metadata"].update({"uid": "0b0f", "resourceVersion": "3"})
    sent = request("CREATE", obj=applied, user=RECONCILER, groups=())
    sent["namespace"] = "shop"  # as kube-apiserver sends it
    verdict = review(sent, settings=SETTINGS, ledger=ledger, policies=policies)
    assert verdict.allowed, verdict.message
    assert verdict.commit == COMMIT


def _replica_set(image: str = "nginx:1.27") -> dict[str, Any]:
    """What the deployment controller makes from the managed Deployment: its pod template,
    owned by it, with the Deployment's annotations (provenance included) copied on."""
    owner = live(deployment())
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-866db476d9",
            "namespace": "shop",
            "annotations": {
                **owner["metadata"]["annotations"],
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "0b0e",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }


DEPLOYMENT_CONTROLLER = "system:serviceaccount:kube-system:deployment-controller"


def test_the_deployment_controller_makes_and_scales_the_replica_sets_of_a_managed_deployment(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    """They inherit the Deployment's provenance annotations; on a real node they were refused
    as if the controller had forged them, and no managed Deployment could roll out."""
    made = review(
        request("CREATE", obj=_replica_set(), user=DEPLOYMENT_CONTROLLER, groups=()),
        settings=SETTINGS,
        ledger=ledger,
        policies=policies,
    )
    assert made.allowed, made.message
    assert len(policies.calls) == 1  # the policies still judge it
    scaled = _replica_set()
    scaled["spec"]["replicas"] = 0
    for operation, obj, old, user in (
        ("UPDATE", scaled, _replica_set(), DEPLOYMENT_CONTROLLER),
        ("DELETE", None, scaled, "system:serviceaccount:kube-system:generic-garbage-collector"),
        ("CREATE", _replica_set(), None, "system:kube-controller-manager"),
    ):
        verdict = review(
            request(operation, obj=obj, old=old, user=user, groups=()),
            settings=SETTINGS,
            ledger=ledger,
            policies=policies,
        )
        assert verdict.allowed, (operation, verdict.message)


def test_a_human_may_not_change_or_forge_the_replica_sets_of_a_managed_deployment(
    ledger: MemoryLedger, policies: MemoryPolicies
) -> None:
    forged = "may not set or change the provenance metadata"  # the marks it carries
    for operation, obj, old, why in (
        ("UPDATE", _replica_set(image="nginx:evil"), _replica_set(), "managed from Git"),
        ("CREATE", _replica_set(image="nginx:evil"), None, forged.replace("may not ", "may ")),
        ("DELETE", None, _replica_set(), "managed from Git"),
    ):
        verdict = review(
            request(operation, obj=obj, old=old),
            settings=SETTINGS,
            ledger=ledger,
            policies=policies,
        )
        assert not verdict.allowed, operation
        assert why in verdict.message, operation


def test_an_object_that_breaks_policies_thousands_of_times_gets_a_short_answer_and_record(
    ledger: MemoryLedger,
) -> None:
    """A dry run is enough to send it: the append-only log must not grow by megabytes."""
    findings = tuple(
        PolicyFinding(policy=f"library.p{i % 3}", action=action, message=f"container {i} " * 50)
        for i in range(3000)
        for action in ("deny", "warn")
    )
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    dry = request("CREATE", obj=config_map, dry_run=True)
    verdict = review(
        dry, settings=SETTINGS, ledger=ledger, policies=MemoryPolicies(findings=findings)
    )
    assert not verdict.allowed
    assert len(verdict.message) < 40_000
    assert verdict.message.count("[library.p") == 20
    assert "... and 2980 more denials" in verdict.message
    assert len(verdict.warnings) == 21 and verdict.warnings[-1] == "... and 2980 more warnings"
    payload = verdict.event(dry).payload
    assert len(payload["policies"]) == 100
    assert payload["policies_omitted"] == {
        "library.p0": 1966,
        "library.p1": 1966,
        "library.p2": 1968,
    }
    assert sum(payload["policies_omitted"].values()) + 100 == len(findings)
    long_one = PolicyFinding(policy="library.long", action="deny", message="x" * 100_000)
    verdict = review(
        dry, settings=SETTINGS, ledger=ledger, policies=MemoryPolicies(findings=(long_one,))
    )
    assert len(verdict.message) < 2_000 and "98976 more characters" in verdict.message
    recorded = verdict.event(dry).payload["policies"][0]["message"]
    assert recorded == "x" * 2048 + "... (97952 more characters)"
