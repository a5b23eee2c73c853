"""Parsing AdmissionReview v1 bodies at the edge."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.admission import wire
from gatekeeper.admission.errors import BadReview, MalformedRequest
from gatekeeper.admission.wire import parse_review, refusal, review_of


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
        ({"uid": ""}, "request.uid"),
        ({"uid": 7}, "request.uid"),
        ({"uid": "u" * 257}, "request.uid"),
    ],
)
def test_a_request_without_a_usable_uid_is_a_bad_review(
    changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(BadReview) as error:
        parse_review(_body(**changes))
    assert not isinstance(error.value, MalformedRequest)
    assert expected in str(error.value)


OLD_META = {"apiVersion": "apps/v1", "kind": "Deployment"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"operation": "PATCH"}, "request.operation"),
        ({"operation": "CREATE"}, "request.object is required for CREATE"),
        ({"kind": {"version": "v1"}}, "request.kind.kind is missing"),
        ({"kind": "Deployment"}, "request.kind"),
        ({"resource": ["deployments"]}, "request.resource"),
        ({"userInfo": "alice"}, "request.userInfo"),
        ({"userInfo": {"username": "alice", "groups": [1]}}, "request.userInfo.groups.0"),
        ({"dryRun": "maybe"}, "request.dryRun"),
        ({"oldObject": [1, 2]}, "request.oldObject"),
        ({"oldObject": {**OLD_META, "metadata": []}}, "request.oldObject.metadata must be"),
        ({"oldObject": {**OLD_META, "metadata": "web"}}, "request.oldObject.metadata must be"),
        ({"oldObject": {"apiVersion": 1}}, "request.oldObject.apiVersion must be a string"),
        ({"oldObject": {"kind": ["Deployment"]}}, "request.oldObject.kind must be a string"),
        ({"oldObject": {"metadata": {"name": 5}}}, "request.oldObject.metadata.name must be"),
        (
            {"oldObject": {"metadata": {"namespace": {}}}},
            "request.oldObject.metadata.namespace must be",
        ),
        ({"oldObject": {"metadata": {"labels": "x"}}}, "metadata.labels must be a mapping"),
        ({"oldObject": {"metadata": {"annotations": [1]}}}, "metadata.annotations must be"),
        (
            {"oldObject": {"metadata": {"labels": {"gatekeeper.dev/managed": True}}}},
            "metadata.labels['gatekeeper.dev/managed'] must be a string",
        ),
        (
            {"oldObject": {"metadata": {"annotations": {"a": None}}}},
            "metadata.annotations['a'] must be a string",
        ),
        (
            {"oldObject": {"metadata": {"ownerReferences": "me"}}},
            "metadata.ownerReferences must be a list of mappings",
        ),
        (
            {"operation": "CREATE", "object": {"metadata": {"labels": 1}}},
            "request.object.metadata.labels",
        ),
    ],
)
def test_a_malformed_request_with_a_uid_is_refused_naming_the_field(
    changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(MalformedRequest) as error:
        parse_review(_body(**changes))
    assert error.value.uid == "u-1"
    assert expected in str(error.value)


def test_null_metadata_labels_and_annotations_count_as_absent() -> None:
    old = {**OLD_META, "metadata": {"name": "web", "labels": None, "annotations": None}}
    assert parse_review(_body(oldObject=old))["oldObject"] == old
    assert parse_review(_body(oldObject={**OLD_META, "metadata": None}))["oldObject"] is not None


def test_a_refusal_names_the_uid_and_the_problem() -> None:
    assert refusal("u-1", "request.kind is missing") == {
        "uid": "u-1",
        "allowed": False,
        "status": {"code": 400, "reason": "BadRequest", "message": "request.kind is missing"},
    }


def test_the_answer_is_wrapped_in_an_admission_review_v1() -> None:
    review = review_of({"uid": "u-1", "allowed": True})
    assert review == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-1", "allowed": True},
    }


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_number_json_cannot_write_is_refused_with_the_uid(number: float) -> None:
    # Python's json writes these as NaN and Infinity, which the parser would take.
    body = _body(operation="CREATE", object={"kind": "ConfigMap", "data": {"x": number}})
    with pytest.raises(MalformedRequest, match="numbers must be finite") as error:
        parse_review(body)
    assert error.value.uid == "u-1"


def test_nan_and_infinity_inside_strings_are_plain_text() -> None:
    obj = {"kind": "ConfigMap", "data": {"NaN": "Infinity", "x": "-Infinity"}}
    assert parse_review(_body(operation="CREATE", object=obj))["object"] == obj


@pytest.mark.parametrize(
    ("number", "why"),
    [
        (b"1e999", "beyond a double's range"),
        (b"-2.5E+400", "beyond a double's range"),
        (b"1" * 400, "more than 64 bits"),
        (b"-9223372036854775809", "more than 64 bits"),
    ],
)
def test_numbers_beyond_a_double_or_64_bits_are_refused_with_the_uid(
    number: bytes, why: str
) -> None:
    """1e999 parsed as infinity, which the policies saw as null; a 400-digit integer made
    the decision fail instead of being named as malformed."""
    body = _body(operation="CREATE", object={"kind": "ConfigMap", "data": {"x": 7}})
    body = body.replace(b'"x": 7', b'"x": ' + number)
    with pytest.raises(MalformedRequest, match=why) as error:
        parse_review(body)
    assert error.value.uid == "u-1"


def test_large_numbers_within_range_and_number_like_strings_are_taken() -> None:
    obj = {
        "kind": "ConfigMap",
        "data": {"id": "12345678901234567890123", "e": "1e999"},
        "spec": {"big": 18446744073709551615, "small": -9223372036854775808, "f": 1e308},
    }
    assert parse_review(_body(operation="CREATE", object=obj))["object"] == obj


@pytest.mark.parametrize("value", ['"yes"', '"false"', "1"])
def test_dry_run_must_be_a_json_boolean(value: str) -> None:
    body = _body(dryRun=True).replace(b'"dryRun": true', b'"dryRun": ' + value.encode())
    with pytest.raises(MalformedRequest, match=r"request\.dryRun"):
        parse_review(body)


# What `_number_problem` must look at more closely, said as a regular expression.
_SUSPECT = re.compile(rb"NaN|Infinity|[0-9][eE][+-]?[0-9]{3}|[0-9]{19}")


@settings(max_examples=2000)
@given(st.binary(max_size=40) | st.text(alphabet="0123456789eE+-. aNIfinty:,{}", max_size=40))
def test_the_byte_shape_scan_finds_what_the_expression_finds(body: bytes | str) -> None:
    data = body.encode() if isinstance(body, str) else body
    assert wire._suspect_number(data) == bool(_SUSPECT.search(data))
