"""Properties of the decision that must hold for any request, not just the examples."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.admission.decision import _without_marks, review
from gatekeeper.kube import contract
from gatekeeper.settings import AdmissionSettings
from tests.unit.admission.doubles import (
    RECONCILER,
    MemoryLedger,
    MemoryPolicies,
    deployment,
    live,
    request,
)

SETTINGS = AdmissionSettings(reconciler_identity=RECONCILER)
names = st.text(alphabet="abcdefghij-", min_size=1, max_size=8)
users = names.filter(lambda name: name != RECONCILER)
groups = st.lists(st.sampled_from(["developers", "system:authenticated", "ops"]), max_size=3)
values = st.one_of(names, st.integers(0, 9), st.booleans())
edits = st.dictionaries(st.sampled_from(["replicas", "paused", "minReadySeconds"]), values)
marks = st.sampled_from([contract.MANAGED_LABEL, *contract.PROVENANCE_ANNOTATIONS])


def _ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    ledger.record(deployment())
    return ledger


@given(user=users, user_groups=groups, spec=edits, operation=st.sampled_from(["UPDATE", "DELETE"]))
def test_nobody_but_the_reconciler_changes_a_managed_object_without_break_glass(
    user: str, user_groups: list[str], spec: dict[str, Any], operation: str
) -> None:
    old = live(deployment())
    new = None
    if operation == "UPDATE":
        new = copy.deepcopy(old)
        new["spec"].update(spec)
    verdict = review(
        request(operation, obj=new, old=old, user=user, groups=tuple(user_groups)),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=MemoryPolicies(),
    )
    assert not verdict.allowed
    assert "refused" in verdict.message


@given(user=users, mark=marks, value=names, in_break_glass=st.booleans())
def test_provenance_metadata_set_by_anyone_else_is_always_refused(
    user: str, mark: str, value: str, in_break_glass: bool
) -> None:
    old = live(deployment())
    new = copy.deepcopy(old)
    metadata = new["metadata"]
    place = "labels" if mark == contract.MANAGED_LABEL else "annotations"
    if metadata[place][mark] == value:
        return
    metadata[place][mark] = value
    metadata["annotations"][contract.BREAK_GLASS_ANNOTATION] = "INC-1"
    user_groups = ("gatekeeper:break-glass",) if in_break_glass else ()
    verdict = review(
        request("UPDATE", obj=new, old=old, user=user, groups=user_groups),
        settings=SETTINGS,
        ledger=_ledger(),
        policies=MemoryPolicies(),
    )
    assert not verdict.allowed
    assert mark in verdict.message


_label_maps = st.one_of(
    st.none(),
    st.integers(),
    st.dictionaries(st.one_of(marks, names, st.just(contract.BREAK_GLASS_ANNOTATION)), names),
)


@given(
    labels=_label_maps,
    annotations=_label_maps,
    metadata_extra=st.dictionaries(st.sampled_from(["name", "namespace"]), names),
    bare_metadata=st.sampled_from([None, 3, "absent"]),
)
def test_the_object_compared_with_the_ledger_is_the_stripped_object_and_the_request_is_untouched(
    labels: Any, annotations: Any, metadata_extra: dict[str, str], bare_metadata: Any
) -> None:
    # The decision strips provenance marks without a deep copy; it must agree with
    # contract.strip and leave the request's object as it was.
    metadata: dict[str, Any] = dict(metadata_extra)
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    objects: list[dict[str, Any]] = [{"kind": "Deployment", "metadata": metadata, "spec": {}}]
    if bare_metadata == "absent":
        objects.append({"kind": "Deployment"})
    else:
        objects.append({"kind": "Deployment", "metadata": bare_metadata})
    for obj in objects:
        before = copy.deepcopy(obj)
        assert _without_marks(obj) == contract.strip(obj)
        assert obj == before
