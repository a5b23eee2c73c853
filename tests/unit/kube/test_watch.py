"""A watch stream turns the API server's event lines into events, and its errors into ours."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import urllib3

from gatekeeper.kube.errors import Gone, KubeError
from gatekeeper.kube.objects import ResourceType
from gatekeeper.kube.watch import WatchStream

NAMESPACES = ResourceType(
    group="", version="v1", kind="Namespace", plural="namespaces", namespaced=False
)


def _stream(*documents: Any, raw: bytes = b"") -> WatchStream:
    body = b"".join(json.dumps(document).encode() + b"\n" for document in documents) + raw
    response = urllib3.HTTPResponse(body=io.BytesIO(body), preload_content=False, status=200)
    return WatchStream(response, resource=NAMESPACES, describe="watch /api/v1/namespaces")


def _namespace(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"team": "a"}}}


def test_events_arrive_in_order_with_kind_and_api_version_filled_in() -> None:
    events = list(
        _stream(
            {"type": "ADDED", "object": _namespace("shop")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
            {"type": "MODIFIED", "object": _namespace("shop")},
            {"type": "DELETED", "object": _namespace("shop")},
        )
    )
    assert [event.type for event in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[0].object["kind"] == "Namespace"
    assert events[0].object["apiVersion"] == "v1"


def test_a_last_line_without_a_newline_is_still_an_event() -> None:
    tail = json.dumps({"type": "ADDED", "object": _namespace("late")}).encode()
    (event,) = list(_stream(raw=tail))
    assert event.object["metadata"]["name"] == "late"


def test_a_resource_version_too_old_is_gone() -> None:
    error = {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}
    with pytest.raises(Gone, match="HTTP 410: too old"):
        list(_stream({"type": "ADDED", "object": _namespace("a")}, error))


def test_any_other_error_event_is_a_kube_error_with_its_status() -> None:
    error = {"type": "ERROR", "object": {"code": 500, "message": "etcd is down"}}
    with pytest.raises(KubeError, match="etcd is down") as raised:
        list(_stream(error))
    assert raised.value.status == 500
    assert raised.value.transient


def test_a_line_that_is_not_json_is_a_kube_error_not_a_crash() -> None:
    with pytest.raises(KubeError, match="the stream broke"):
        list(_stream(raw=b"{not json\n"))
