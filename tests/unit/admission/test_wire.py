"""Parsing AdmissionReview v1 bodies at the edge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gatekeeper.admission.errors import BadReview
from gatekeeper.admission.wire import parse_review, review_of


def _body(**request: Any) -> bytes:
    base: dict[str, Any] = {
        "uid": "u-1",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "namespace": "shop",
        "name": "web",
        "operation": "DELETE",
        "userInfo": {"username": "alice"},
        "oldObject": {"apiVersion": "apps/v1", "kind": "Deployment"},
        "options": {"kind": "DeleteOptions"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
    }
    base.update(request)
    return json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": base}
    ).encode()


def test_a_delete_needs_no_object_and_optional_fields_get_defaults() -> None:
    request = parse_review(_body())
    assert request["operation"] == "DELETE"
    assert request["object"] is None
    assert request["userInfo"] == {"username": "alice", "groups": []}
    assert request["subResource"] == "" and request["dryRun"] is False


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"operation": "PATCH"}, "request.operation"),
        ({"uid": ""}, "request.uid"),
        ({"operation": "CREATE"}, "request.object is required for CREATE"),
        ({"kind": {"version": "v1"}}, "request.kind.kind is missing"),
        ({"userInfo": "alice"}, "request.userInfo"),
        ({"dryRun": "maybe"}, "request.dryRun"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(BadReview) as error:
        parse_review(_body(**changes))
    assert expected in str(error.value)


def test_the_answer_is_wrapped_in_an_admission_review_v1() -> None:
    review = review_of({"uid": "u-1", "allowed": True})
    assert review == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-1", "allowed": True},
    }
