"""AdmissionReview v1 on the wire: TypedDicts inside, a pydantic parser at the HTTP edge."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gatekeeper.admission.errors import BadReview

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
    dryRun: bool = False


class _Review(_Model):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: _Request


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an AdmissionReview v1 body; raises `BadReview` saying what is wrong."""
    try:
        review = _Review.model_validate_json(body)
    except ValidationError as exc:
        raise BadReview(_describe(exc)) from exc
    request = review.request
    if request.operation in ("CREATE", "UPDATE") and request.object is None:
        raise BadReview(f"request.object is required for {request.operation}")
    if request.operation == "UPDATE" and request.oldObject is None:
        raise BadReview("request.oldObject is required for UPDATE")
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
