"""`POST /validate` fuzzed: reviews with a usable envelope and hostile values at every level.

The app is the real one (its audit store on SQLite, the shipped policy library) over ASGI. Any
body must be answered with HTTP 400 (no usable envelope) or 200 with a well-formed
AdmissionReview for the request's uid; with a usable envelope, always the latter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gatekeeper.admission.app import create_app
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.kube import contract
from gatekeeper.settings import Settings
from tests.unit.admission.asgi import AsgiClient
from tests.unit.admission.doubles import RECONCILER

ROOT = Path(__file__).resolve().parents[3]
API_VERSION = "admission.k8s.io/v1"
# Below the JSON parser's nesting limit (200 levels), with room for the envelope around it.
DEEPEST = 150
_STRUCTURE_DEPTH = 7

odd_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u202eevil",
        "\ufeff",
        "\uffff",
        "\u200b",
        "e\u0301",
        "\U0001f600" * 3,
        "\u210c\U0001d522\U0001d529",  # fraktur letters
        "x" * 5000,
        "true",
        "null",
        "../../etc",
    ]
)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=16) | odd_text
numbers = (
    st.integers(-(2**70), 2**70)
    | st.sampled_from([10**40, -(10**40), 2**63, 1e308, -1e308, 5e-324, -0.0])
    | st.floats(allow_nan=False, allow_infinity=False)
)
scalars = st.none() | st.booleans() | numbers | texts


def _nested(depth: int, in_list: bool) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value] if in_list else {"a": value}
    return value


deep = st.builds(_nested, st.integers(1, DEEPEST), st.booleans())
hostile = (
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
        max_leaves=6,
    )
    | deep
)

# A well-formed review first, as the API server would send it ...
names = st.sampled_from(["web", "c", "notes"]) | texts
namespaces = st.sampled_from(["shop", "kube-system", "", "gatekeeper-system"])
labels = st.dictionaries(
    st.sampled_from([contract.MANAGED_LABEL, "app"]),
    st.sampled_from(["true", "false", "web"]),
    max_size=2,
)
annotations = st.dictionaries(
    st.sampled_from([*contract.PROVENANCE_ANNOTATIONS, contract.BREAK_GLASS_ANNOTATION, "a"]),
    st.sampled_from(["apps", "a" * 40, "sha256:" + "0" * 64, "INC-1"]) | texts,
    max_size=4,
)
metadata = st.fixed_dictionaries(
    {"name": names},
    optional={
        "namespace": namespaces,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": st.lists(
            st.fixed_dictionaries({"controller": st.booleans()}), max_size=2
        ),
    },
)
objects = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["v1", "apps/v1"]),
        "kind": st.sampled_from(["ConfigMap", "Deployment", "Secret", "Pod"]),
        "metadata": metadata,
    },
    optional={"spec": hostile, "data": st.dictionaries(texts, texts, max_size=2)},
)
users = st.fixed_dictionaries(
    {
        "username": st.sampled_from(["alice", RECONCILER, "system:node:n1"]) | texts,
        "groups": st.lists(st.sampled_from(["gatekeeper:break-glass", "system:nodes"]), max_size=2),
    }
)


@st.composite
def valid_reviews(draw: st.DrawFn) -> dict[str, Any]:
    operation = draw(st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]))
    new = draw(objects) if operation in ("CREATE", "UPDATE") else None
    old = draw(objects) if operation in ("UPDATE", "DELETE") else None
    request = {
        "uid": draw(st.uuids().map(str) | st.sampled_from(["u", "ü" * 256, "\u202e"])),
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "subResource": draw(st.sampled_from(["", "", "status", "scale", "binding"])),
        "name": draw(names),
        "namespace": draw(namespaces),
        "operation": operation,
        "userInfo": draw(users),
        "object": new,
        "oldObject": old,
        "dryRun": draw(st.booleans()),
    }
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": request}


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The places in a JSON document (key or index paths) down to the review's own structure
    (`request.object.metadata.ownerReferences[0].controller`), the root excepted; not inside
    a deep value, so that a body stays within the parser's nesting limit."""
    found = [path] if path else []
    if len(path) >= _STRUCTURE_DEPTH:
        return found
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_places(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_places(value, (*path, index)))
    return found


@st.composite
def reviews(draw: st.DrawFn) -> dict[str, Any]:
    """... then a few places in it, at any level, replaced by hostile values or removed."""
    review = draw(valid_reviews())
    for _ in range(draw(st.integers(0, 3))):
        *parents, last = draw(st.sampled_from(_places(review)))
        holder: Any = review
        for step in parents:
            holder = holder[step]
        if isinstance(holder, dict) and draw(st.integers(0, 4)) == 0:
            del holder[last]
        else:
            holder[last] = draw(hostile)
    return review


def _usable_uid(review: dict[str, Any]) -> str | None:
    """The uid the answer must carry, or None when the envelope is not usable."""
    request = review.get("request")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != "AdmissionReview":
        return None
    if not isinstance(request, dict):
        return None
    uid = request.get("uid")
    return uid if isinstance(uid, str) and 1 <= len(uid) <= 256 else None


def _check(answer: httpx.Response, uid: str | None) -> None:
    assert answer.status_code in (200, 400), (answer.status_code, answer.text[:300])
    document = answer.json()
    if uid is None:
        assert answer.status_code == 400
        assert isinstance(document["message"], str) and document["message"]
        return
    assert answer.status_code == 200, document
    assert document["apiVersion"] == API_VERSION and document["kind"] == "AdmissionReview"
    response = document["response"]
    assert response["uid"] == uid
    assert isinstance(response["allowed"], bool)
    if not response["allowed"]:
        status = response["status"]
        assert isinstance(status["code"], int) and status["code"] >= 400
        assert isinstance(status["message"], str) and status["message"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiClient]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'audit.db'}"
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    config = Settings(
        database={"url": url},
        policies={"paths": [str(ROOT / "policies")]},
        admission={
            "reconcilerIdentity": RECONCILER,
            "namespaceLabels": "off",
            "guardedKinds": ["Deployment"],
        },
        server={"maxBodyBytes": 1024 * 1024},
    )
    with AsgiClient(create_app(config, store=store)) as found:
        yield found
    store.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(review=reviews())
def test_every_review_gets_400_or_a_well_formed_answer_for_its_uid(
    client: AsgiClient, review: dict[str, Any]
) -> None:
    body = json.dumps(review).encode()
    answer = client.post("/validate", content=body, headers={"content-type": "application/json"})
    _check(answer, _usable_uid(review))
    event(_outcome(answer))


def _outcome(answer: httpx.Response) -> str:
    if answer.status_code != 200:
        return "no usable envelope"
    status = answer.json()["response"].get("status") or {"code": 200}
    return {200: "allowed", 400: "malformed", 403: "refused"}.get(status["code"], "failed")


@pytest.mark.parametrize(
    "body",
    [
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
        b'{"uid": "u", "object": {"a": "\\ud800"}}}',
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
        b'{"uid": "u", "object": {"a": NaN}}}',
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
        b'{"uid": "u", "object": {"a": ' + b"[" * 500 + b"]" * 500 + b"}}}",
        b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": '
        b'{"uid": "u", "object": {"a": 1e999}}}',
        b"\xff\xfe{}",
    ],
    ids=["lone-surrogate", "nan", "too-deep", "overflowing-float", "not-utf8"],
)
def test_bodies_the_json_parser_cannot_read_get_400(client: AsgiClient, body: bytes) -> None:
    answer = client.post("/validate", content=body, headers={"content-type": "application/json"})
    assert answer.status_code in (200, 400), answer.text[:300]
    if answer.status_code == 200:
        _check(answer, "u")
    else:
        assert answer.json()["message"]
