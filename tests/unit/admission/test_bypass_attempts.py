"""Attempts to change managed objects around the webhook's checks, and answers that must not
misstate what happened: when a decision cannot be made, through controller identities, by
break-glass users, through the reconciler's own apply."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from gatekeeper.admission.app import create_app
from gatekeeper.admission.decision import review
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.ports import PolicyOutcome, ProvenanceFacts
from gatekeeper.admission.service import AdmissionService
from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.audit import events, migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.kube import contract
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.notify.describe import describe
from gatekeeper.settings import AdmissionSettings, Settings, load_settings
from tests.unit.admission.asgi import AsgiClient
from tests.unit.admission.doubles import (
    COMMIT,
    RECONCILER,
    SOURCE,
    MemoryLedger,
    MemoryPolicies,
    deployment,
    live,
    request,
)

REPO = Path(__file__).resolve().parents[3]
SETTINGS = AdmissionSettings(reconciler_identity=RECONCILER)
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}}
BREAK_GLASS = ("gatekeeper:break-glass",)


def _review(req: AdmissionRequest) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def _ledger() -> MemoryLedger:
    found = MemoryLedger()
    found.record(deployment())
    return found


def _status_write_stripping_the_commit() -> AdmissionRequest:
    """`kubectl patch deploy/web --subresource=status` removing the commit annotation."""
    old = live(deployment())
    new = copy.deepcopy(old)
    del new["metadata"]["annotations"][contract.COMMIT_ANNOTATION]
    return request("UPDATE", obj=new, old=old, sub_resource="status")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    found = AuditStore(engine)
    yield found
    found.close()


class _LedgerDown(MemoryLedger):
    """The ledger's database does not answer (locked, restarting, network partition)."""

    def verified_commit(self, source: str, commit: str) -> Any:
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("database is locked"))

    def desired(self, source: str, commit: str, key: ObjectKey) -> Any:
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("database is locked"))


# -- No decision: a provenance change through a subresource is still refused -------------


def test_a_status_write_stripping_provenance_is_refused_when_the_ledger_cannot_be_read(
    store: AuditStore,
) -> None:
    # Refusing the strip needs no ledger, but the refusal's "change it in Git" hint reads it:
    # a ledger that cannot be read must not turn the refusal into "no decision", and the
    # fallback answer must not exempt the status subresource for a provenance change.
    settings = Settings(admission={"reconcilerIdentity": RECONCILER})
    app = create_app(settings, store=store, policies=MemoryPolicies(), ledger=_LedgerDown())
    with AsgiClient(app) as client:
        answer = client.post("/validate", json=_review(_status_write_stripping_the_commit()))
    response = answer.json()["response"]
    record = store.get(int(response["auditAnnotations"]["audit-seq"]))
    assert record is not None
    assert (response["allowed"], record.kind) == (False, events.ADMISSION_DENIED), record.payload[
        "reasons"
    ]


class _ListRecorder:
    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def record(self, event: NewEvent, *, timeout: float) -> int:
        self.events.append(event)
        return len(self.events)

    def record_later(self, event: NewEvent, *, on_failure: Any) -> None:
        self.events.append(event)


class _SlowPolicies(MemoryPolicies):
    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome:
        time.sleep(0.6)
        return super().evaluate(request, provenance)


def test_a_status_write_stripping_provenance_is_refused_when_its_decision_is_cut_off() -> None:
    # Every decider busy (here: one worker on a slow policy): the status write waits past
    # decisionTimeout and gets the fallback answer, which must refuse it too.
    service = AdmissionService(
        settings=AdmissionSettings(reconciler_identity=RECONCILER, decision_timeout=0.2),
        ledger=_ledger(),
        policies=_SlowPolicies(),
        recorder=_ListRecorder(),
        metrics=AdmissionMetrics(),
        workers=1,
    )
    slow = json.dumps(_review(request("CREATE", obj=CONFIG_MAP))).encode()
    strip = json.dumps(_review(_status_write_stripping_the_commit())).encode()

    async def both() -> list[Any]:
        return list(await asyncio.gather(service.answer(slow), service.answer(strip)))

    try:
        _, stripped = asyncio.run(both())
    finally:
        service.close()
    assert stripped["response"]["allowed"] is False, stripped["response"]


# -- Controller users: an owner reference claims nothing on a managed object -------------


@pytest.fixture(scope="module")
def library_policies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The shipped `library.provenance_verified` policy (with its lib), as `serve` loads it."""
    from gatekeeper.admission.policies import RegoPolicies

    folder = tmp_path_factory.mktemp("config")
    config = folder / "gatekeeper.yaml"
    config.write_text(
        "policies:\n"
        f"  paths: [{REPO / 'policies/provenance_verified'}, {REPO / 'policies/lib'}]\n"
        f"admission:\n  reconcilerIdentity: {RECONCILER}\n  isolatePolicies: false\n"
    )
    policies = RegoPolicies.from_settings(load_settings(config))
    yield policies
    policies.close()


def _claims_an_owner(obj: dict[str, Any]) -> dict[str, Any]:
    claimed = copy.deepcopy(obj)
    claimed["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "any", "uid": "1", "controller": True}
    ]
    return claimed


def test_a_controller_identity_cannot_claim_a_managed_deployment_by_naming_an_owner(
    library_policies: Any,
) -> None:
    # Any `system:serviceaccount:kube-system:*` (coredns, kube-proxy, a CNI, ...) matches the
    # default controllerUsers. An ownerReference with controller: true added in the UPDATE
    # itself must not make the managed Deployment "derived" (no Git requirement, no forgery
    # check), so neither the image nor the managed label can change.
    old = live(deployment())
    new = _claims_an_owner(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.evil/miner:1"
    del new["metadata"]["labels"][contract.MANAGED_LABEL]
    verdict = review(
        request("UPDATE", obj=new, old=old, user="system:serviceaccount:kube-system:coredns"),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=library_policies,
    )
    assert not verdict.allowed, verdict.reasons


def test_the_garbage_collector_cannot_delete_a_managed_object_that_names_an_owner() -> None:
    # docs/admission.md: the garbage collector's deletes are refused for managed objects
    # unless it is listed in exemptUsers, whatever owner the stored object names.
    stored = _claims_an_owner(live(deployment()))
    verdict = review(
        request(
            "DELETE", old=stored, user="system:serviceaccount:kube-system:generic-garbage-collector"
        ),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=MemoryPolicies(),
    )
    assert not verdict.allowed, verdict.reasons


# -- Break-glass ends: its user takes the annotation off ----------------------------------


def test_a_break_glass_user_can_remove_the_break_glass_annotation_when_the_incident_ends() -> None:
    # docs/admission.md: remove the annotation when the incident is over. The UPDATE that
    # removes it carries no reason any more; the reconciler's apply does not own it: the
    # break-glass user may take it off by an UPDATE that changes nothing else.
    old = live(deployment())
    old["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-1234 roll back image"
    new = copy.deepcopy(old)
    del new["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION]
    verdict = review(
        request("UPDATE", obj=new, old=old, user="bob", groups=BREAK_GLASS),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=MemoryPolicies(),
    )
    assert verdict.allowed, verdict.message


# -- failClosed: false keeps derived objects locked when no decision can be made --------


def _replica_set() -> dict[str, Any]:
    """A ReplicaSet the Deployment controller made from a managed Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8f",
            "namespace": "shop",
            "annotations": {
                contract.SOURCE_ANNOTATION: SOURCE,
                contract.COMMIT_ANNOTATION: COMMIT,
                contract.DIGEST_ANNOTATION: "sha256:" + "0" * 64,
            },
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u",
                 "controller": True}
            ],
        },
        "spec": {"replicas": 1,
                 "template": {"spec": {"containers": [{"name": "m", "image": "a"}]}}},
    }  # fmt: skip


def test_a_derived_replica_set_is_locked_even_when_the_ledger_cannot_be_read(
    store: AuditStore,
) -> None:
    # Locked like its Deployment when the ledger answers, and when it does not as well,
    # failClosed: false or not.
    settings = Settings(admission={"reconcilerIdentity": RECONCILER, "failClosed": False})
    app = create_app(settings, store=store, policies=MemoryPolicies(), ledger=_LedgerDown())
    old = _replica_set()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.evil/miner:1"
    with AsgiClient(app) as client:
        answer = client.post("/validate", json=_review(request("UPDATE", obj=new, old=old)))
    assert answer.json()["response"]["allowed"] is False


# -- Adoption: an item someone else put in an object the reconciler adopts -------------


def test_the_reconcilers_object_with_a_container_git_does_not_have_is_refused() -> None:
    # With guardedKinds empty (the default), alice can create `web` first with a container
    # of her own; the reconciler's apply merges into it by name and would adopt it,
    # verified, with her container still there.
    squatted = deployment()
    squatted["spec"]["template"]["spec"]["containers"].append(
        {"name": "miner", "image": "registry.evil/miner:1", "securityContext": {"privileged": True}}
    )
    first = review(
        request("CREATE", obj=squatted), settings=SETTINGS, ledger=_ledger(),
        policies=MemoryPolicies(),
    )  # fmt: skip
    assert first.allowed
    adopted = contract.annotate(squatted, source=SOURCE, commit=COMMIT)
    adopted["metadata"]["annotations"][contract.DIGEST_ANNOTATION] = contract.annotate(
        deployment(), source=SOURCE, commit=COMMIT
    )["metadata"]["annotations"][contract.DIGEST_ANNOTATION]
    verdict = review(
        request("UPDATE", obj=adopted, old=squatted, user=RECONCILER, groups=()),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=MemoryPolicies(),
    )
    assert not verdict.allowed, verdict.reasons


# -- Records that state what happened ----------------------------------------------------


def test_a_scale_of_a_managed_deployment_is_recorded_under_the_deployments_subject() -> None:
    # Drift witnesses look up the admitted changes under the drifted object's subject
    # (reconcile/witnesses.py): a scale is recorded under the Deployment, not the Scale.
    scale = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2},
    }
    scaled = copy.deepcopy(scale)
    scaled["spec"]["replicas"] = 50
    req = request("UPDATE", obj=scaled, old=scale, sub_resource="scale")
    req["resource"] = {"group": "apps", "version": "v1", "resource": "deployments"}
    verdict = review(req, settings=SETTINGS, ledger=_ledger(), policies=MemoryPolicies())
    assert verdict.allowed
    assert verdict.event(req).subject == "apps/Deployment/shop/web"


def test_a_dry_run_break_glass_is_not_recorded_as_a_break_glass_change(store: AuditStore) -> None:
    # `kubectl ... --dry-run=server` under break-glass changes nothing: it is no break-glass
    # change (the report's "Break-glass exceptions"), or it says it is a dry run.
    old = live(deployment())
    new = copy.deepcopy(old)
    new["metadata"]["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-9 just checking"
    new["spec"]["replicas"] = 5
    settings = Settings(admission={"reconcilerIdentity": RECONCILER})
    app = create_app(settings, store=store, policies=MemoryPolicies(), ledger=_ledger())
    req = request("UPDATE", obj=new, old=old, user="bob", groups=BREAK_GLASS, dry_run=True)
    with AsgiClient(app) as client:
        response = client.post("/validate", json=_review(req)).json()["response"]
    assert response["allowed"] is True
    record = store.get(int(response["auditAnnotations"]["audit-seq"]))
    assert record is not None and record.payload["dry_run"] is True
    text = describe(record).text
    assert record.kind != events.BREAKGLASS or "dry run" in text.lower(), text
