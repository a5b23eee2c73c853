"""AdmissionReview v1 on the wire: TypedDicts inside, a pydantic parser at the HTTP edge.

A body is parsed in two steps. Without a usable envelope (JSON, `apiVersion`, `kind`, a
`request.uid`) there is nobody to answer: `BadReview`, HTTP 400. Anything wrong below it (a
field of the wrong type, an object whose `metadata`, `labels` or `annotations` is not a
mapping) is `MalformedRequest`, which carries the uid, so that it is answered with a refusal
the API server understands. The decision then only meets objects whose metadata has the
shape Kubernetes gives it.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gatekeeper.admission.errors import BadReview, MalformedRequest

API_VERSION = "admission.k8s.io/v1"
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    group: str
    version: str
    resource: str


class UserInfo(TypedDict):
    username: str
    groups: list[str]


class AdmissionRequest(TypedDict):
    """The `request` of an AdmissionReview v1, with absent optional fields filled in."""

    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    subResource: str
    name: str
    namespace: str
    operation: Operation
    userInfo: UserInfo
    object: dict[str, Any] | None
    oldObject: dict[str, Any] | None
    dryRun: bool


class Status(TypedDict):
    code: int
    message: str
    reason: NotRequired[str]


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]
    auditAnnotations: NotRequired[dict[str, str]]


class AdmissionReview(TypedDict):
    apiVersion: str
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _GroupVersionKind(_Model):
    group: str = ""
    version: str
    kind: str = Field(min_length=1)


class _GroupVersionResource(_Model):
    group: str = ""
    version: str
    resource: str = Field(min_length=1)


class _UserInfo(_Model):
    username: str = ""
    groups: list[str] = Field(default_factory=list)


class _Request(_Model):
    uid: str = Field(min_length=1, max_length=256)
    kind: _GroupVersionKind
    resource: _GroupVersionResource
    subResource: str = ""
    name: str = ""
    namespace: str = ""
    operation: Operation
    userInfo: _UserInfo
    object: dict[str, Any] | None = None
    oldObject: dict[str, Any] | None = None
    dryRun: bool = Field(False, strict=True)  # not "yes", 1 or "false"


class _Review(_Model):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: _Request


class _Uid(_Model):
    uid: str = Field(min_length=1, max_length=256)


class _Envelope(_Model):
    """What a review needs to be answered at all."""

    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: _Uid


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an AdmissionReview v1 body.

    Raises `BadReview` when the envelope is unusable and `MalformedRequest` (with the uid)
    when the request inside it is not well formed, each saying what is wrong.
    """
    try:
        review = _Review.model_validate_json(body)
    except ValidationError as exc:
        problem = _describe(exc)
        try:  # only on this error path: is there a uid to answer?
            envelope = _Envelope.model_validate_json(body)
        except ValidationError:
            raise BadReview(problem) from exc
        raise MalformedRequest(envelope.request.uid, problem) from exc
    request = review.request
    problem = _request_problem(request) or _number_problem(body)
    if problem:
        raise MalformedRequest(request.uid, f"malformed AdmissionReview v1: {problem}")
    return {
        "uid": request.uid,
        "kind": {
            "group": request.kind.group,
            "version": request.kind.version,
            "kind": request.kind.kind,
        },
        "resource": {
            "group": request.resource.group,
            "version": request.resource.version,
            "resource": request.resource.resource,
        },
        "subResource": request.subResource,
        "name": request.name,
        "namespace": request.namespace,
        "operation": request.operation,
        "userInfo": {"username": request.userInfo.username, "groups": request.userInfo.groups},
        "object": request.object,
        "oldObject": request.oldObject,
        "dryRun": request.dryRun,
    }


def review_of(response: AdmissionResponse) -> AdmissionReview:
    """The AdmissionReview v1 envelope the API server expects back."""
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def refusal(
    uid: str, message: str, *, code: int = 400, reason: str = "BadRequest"
) -> AdmissionResponse:
    """The answer to a request that was not decided: malformed (400) or failed (500)."""
    return {
        "uid": uid,
        "allowed": False,
        "status": {"code": code, "reason": reason, "message": message},
    }


def _request_problem(request: _Request) -> str:
    """What is wrong with a request that parsed, or "": objects the operation needs, and the
    shape of their metadata, which the decision reads."""
    if request.operation in ("CREATE", "UPDATE") and request.object is None:
        return f"request.object is required for {request.operation}"
    if request.operation == "UPDATE" and request.oldObject is None:
        return "request.oldObject is required for UPDATE"
    for where, obj in (
        ("request.object", request.object),
        ("request.oldObject", request.oldObject),
    ):
        if obj is not None:
            problem = _object_problem(where, obj)
            if problem:
                return problem
    return ""


# What could be a number JSON or the policies' engines cannot hold: NaN and Infinity (not
# JSON, which the parser takes), an exponent of three digits (1e999 parses as infinity) and
# an integer of nineteen digits or more (near or beyond 64 bits). Strings may match too;
# the body is then read again to look at its numbers alone. To find the last two without
# a regular expression (which took 45 us for a 2 KB review), every byte is mapped to its
# shape: digits to 0, e and E to e, signs to +, anything else to a space.
_SHAPES = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else
    ord("e") if b in b"eE" else
    ord("+") if b in b"+-" else ord(" ")
    for b in range(256)
)  # fmt: skip
_SUSPECT_SHAPES = (b"0" * 19, b"0e000", b"0e+000")
_SMALLEST, _LARGEST = -(2**63), 2**64 - 1


def _suspect_number(body: bytes) -> bool:
    """Whether the body may hold a number `_number_problem` refuses (or a string like one)."""
    if b"NaN" in body or b"Infinity" in body:
        return True
    shapes = body.translate(_SHAPES)
    return any(shape in shapes for shape in _SUSPECT_SHAPES)


def _number_problem(body: bytes) -> str:
    """What is wrong with a number of the body, or "": the API server never sends NaN,
    Infinity, numbers beyond a double's range or integers beyond 64 bits, and no check
    downstream must meet one (a policy would see infinity as null)."""
    if not _suspect_number(body):
        return ""  # the common case: a few scans of the bytes

    def constant(text: str) -> Any:
        raise ValueError(f"{text} is not JSON")

    def real(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text[:40]} is beyond a double's range")
        return value

    def integer(text: str) -> int:
        value = int(text)
        if not _SMALLEST <= value <= _LARGEST:
            raise ValueError(f"the integer {text[:20]}... has more than 64 bits")
        return value

    try:
        json.loads(body, parse_constant=constant, parse_float=real, parse_int=integer)
    except ValueError as exc:
        return f"numbers must be finite and fit in 64 bits; {exc}"
    return ""


def _object_problem(where: str, obj: dict[str, Any]) -> str:
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field, ""), str):
            return f"{where}.{field} must be a string"
    metadata = obj.get("metadata")
    if metadata is None:
        return ""
    if not isinstance(metadata, dict):
        return f"{where}.metadata must be a mapping"
    for field in ("name", "namespace", "generateName"):
        value = metadata.get(field)
        if value is not None and not isinstance(value, str):
            return f"{where}.metadata.{field} must be a string"
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"{where}.metadata.{field} must be a mapping of strings"
        for key, value in values.items():
            if not isinstance(value, str):
                return f"{where}.metadata.{field}[{key[:64]!r}] must be a string"
    references = metadata.get("ownerReferences")
    if references is not None and not (
        isinstance(references, list) and all(isinstance(r, dict) for r in references)
    ):
        return f"{where}.metadata.ownerReferences must be a list of mappings"
    return ""


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        if item["type"] == "json_invalid":
            problems.append(f"body is not valid JSON ({item['ctx'].get('error', 'invalid')})")
        elif item["type"] == "missing":
            problems.append(f"{where} is missing")
        elif item["type"] == "literal_error":
            problems.append(f"{where} must be {item['ctx']['expected']}")
        else:
            problems.append(f"{where}: {item['msg']}")
    return "not an AdmissionReview v1: " + "; ".join(problems)
