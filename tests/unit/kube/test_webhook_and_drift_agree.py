"""The webhook admits the reconciler's object exactly when the drift check finds no drift.

Both sides are driven end to end through their pure cores: `admission.decision.review` with the
reconciler's identity and a recorded manifest, and `reconcile.planner.plan` on a synced source.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.admission.decision import review
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile.planner import plan
from gatekeeper.settings import AdmissionSettings
from tests.unit.admission.doubles import (
    COMMIT,
    PATH,
    RECONCILER,
    SOURCE,
    MemoryLedger,
    MemoryPolicies,
    request,
)

SETTINGS = AdmissionSettings(reconciler_identity=RECONCILER)
names = st.sampled_from(["app", "proxy", "init", "log"])
images = st.sampled_from(["nginx:1.27", "nginx:1.28", "busybox:1"])
containers = st.lists(
    st.fixed_dictionaries(
        {"name": names, "image": images},
        optional={"args": st.lists(st.sampled_from(["-v", "--port=80"]), max_size=2)},
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item["name"],
)


def _deployment(items: list[dict[str, Any]], replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": items}},
        },
    }


@st.composite
def live_variants(draw: st.DrawFn, desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server might hold: defaulted, reordered, edited, extended, trimmed."""
    obj = contract.annotate(desired, source=SOURCE, commit=COMMIT)
    obj["metadata"].update({"uid": "0b0e", "resourceVersion": "9"})
    spec = obj["spec"]["template"]["spec"]
    items = spec["containers"]
    for item in items:
        if draw(st.booleans()):
            item["imagePullPolicy"] = "IfNotPresent"
    if draw(st.booleans()):
        items.reverse()
    if draw(st.booleans()):
        items.append({"name": "injected-sidecar", "image": "envoy:1"})
    if draw(st.booleans()):
        draw(st.randoms()).choice(items)["image"] = draw(images)
    if draw(st.booleans()) and len(items) > 1:
        items.pop(draw(st.integers(0, len(items) - 1)))
    if draw(st.booleans()):
        target = draw(st.randoms()).choice(items)
        if "args" in target:
            target["args"] = list(reversed(target["args"]))
    if draw(st.booleans()):
        obj["spec"]["replicas"] = draw(st.integers(1, 3))
    return obj


@given(data=st.data(), items=containers, replicas=st.integers(1, 3))
def test_the_webhook_admits_exactly_what_drift_calls_no_drift(
    data: st.DataObject, items: list[dict[str, Any]], replicas: int
) -> None:
    desired = _deployment(items, replicas)
    live = data.draw(live_variants(copy.deepcopy(desired)))
    ledger = MemoryLedger()
    ledger.record(desired)
    verdict = review(
        request("UPDATE", obj=live, old=live, user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=MemoryPolicies(),
    )
    key = ObjectKey.of(desired)
    found = plan(
        [DesiredObject(key=key, path=PATH, manifest=desired)],
        {key: live},
        source=SOURCE,
        commit=COMMIT,
        synced=True,
    )
    assert verdict.allowed == (not found.drifted), (verdict.message, found.drifted)


def test_containers_the_api_server_reorders_are_admitted_and_are_not_drift() -> None:
    desired = _deployment([{"name": "app", "image": "a:1"}, {"name": "log", "image": "b:1"}], 1)
    live = contract.annotate(desired, source=SOURCE, commit=COMMIT)
    live["spec"]["template"]["spec"]["containers"].reverse()
    ledger = MemoryLedger()
    ledger.record(desired)
    verdict = review(
        request("UPDATE", obj=live, old=live, user=RECONCILER),
        settings=SETTINGS,
        ledger=ledger,
        policies=MemoryPolicies(),
    )
    assert verdict.allowed, verdict.message
