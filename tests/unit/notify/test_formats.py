"""The bodies notifications carry, and the words records are told in."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.audit.events import Record
from gatekeeper.notify import describe, formats
from gatekeeper.notify.kube_events import Involved, event_body, event_name, is_about_an_event


def _record(kind: str = "sync.rejected", **fields: Any) -> Record:
    values: dict[str, Any] = {
        "seq": 42,
        "time": datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC),
        "kind": kind,
        "actor": "gatekeeper-reconciler",
        "subject": "source/apps",
        "source": "apps",
        "commit": "ab" * 20,
        "payload": {"reasons": [{"message": "commit is not signed"}]},
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }
    values.update(fields)
    return Record(**values)


def test_the_webhook_body_is_the_record_with_its_hashes_and_its_signature_checks() -> None:
    record = _record()
    body = formats.webhook_body(record)
    document = json.loads(body)
    assert document["seq"] == 42
    assert document["time"] == "2026-12-02T10:00:00.123456Z"
    assert document["hash"] == "f" * 64
    assert document["payload"] == {"reasons": [{"message": "commit is not signed"}]}
    headers = formats.webhook_headers("hook", record, body, b"key")
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert headers[formats.SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[formats.DELIVERY_HEADER] == "hook:42:ffffffffffffffff"
    assert formats.SIGNATURE_HEADER not in formats.webhook_headers("hook", record, body, None)


def test_a_huge_payload_is_left_out_of_the_webhook_body_and_said_so() -> None:
    record = _record(payload={"objects": ["x" * 1000] * 400})
    document = json.loads(formats.webhook_body(record))
    assert document["payload"] is None
    assert document["payload_omitted"]["bytes"] > formats.PAYLOAD_LIMIT
    assert document["hash"] == record.hash


def test_slack_gets_text_and_blocks_with_markup_escaped() -> None:
    record = _record(payload={"reasons": [{"message": "<script> & more"}]})
    message = formats.slack_message(record)
    assert "commit is not signed" not in message["text"]
    assert "&lt;script&gt; &amp; more" in message["text"]
    section = message["blocks"][0]["text"]["text"]
    assert "&lt;script&gt; &amp; more" in section
    assert section.startswith(":warning:")
    assert "#42" in message["blocks"][2]["elements"][0]["text"]


@pytest.mark.parametrize(
    ("kind", "payload", "reason", "words"),
    [
        ("sync.rejected", {"reasons": [{"message": "not signed"}]}, "SyncRejected", "not signed"),
        (
            "drift.detected",
            {"object": "ConfigMap/a/b", "diff": [{"path": "data.x"}], "mode": "correct"},
            "DriftDetected",
            "data.x",
        ),
        (
            "rollback",
            {"from": "a" * 40, "to": "b" * 40, "reason": "bad", "automatic": True},
            "RolledBack",
            "automatically",
        ),
        ("breakglass", {"user": "bob", "break_glass_reason": "INC-7"}, "BreakGlass", "INC-7"),
        (
            "admission.denied",
            {"user": "alice", "operation": "UPDATE", "reasons": ["edit it in Git"]},
            "AdmissionDenied",
            "edit it in Git",
        ),
    ],
)
def test_each_kind_has_its_reason_and_says_what_happened(
    kind: str, payload: dict[str, Any], reason: str, words: str
) -> None:
    told = describe.describe(_record(kind, payload=payload))
    assert told.reason == reason
    assert told.type == "Warning"
    assert words in told.text


def test_an_unknown_kind_is_told_generically_and_normal() -> None:
    told = describe.describe(_record("report.generated", payload={}))
    assert told.reason == "ReportGenerated"
    assert told.type == "Normal"


@given(st.text(max_size=3000))
def test_a_description_never_exceeds_its_limit(text: str) -> None:
    told = describe.describe(_record("sync.failed", payload={"error": text}))
    assert len(told.text) <= describe.TEXT_LIMIT


def test_an_event_names_its_record_and_fits_kubernetes_names() -> None:
    record = _record("drift.detected", subject="rbac.authorization.k8s.io/ClusterRole/system:x")
    name = event_name("system:X", record)
    assert name == "system-x.gk42-ffffffffff"
    body = event_body(
        record,
        Involved(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "system:x",
            "default",
            cluster_scoped=True,
        ),
        instance="pod-1",
    )
    assert body["metadata"]["namespace"] == "default"
    assert "namespace" not in body["involvedObject"]
    assert body["firstTimestamp"] == "2026-12-02T10:00:00Z"
    assert body["source"] == {"component": "gitops-gatekeeper"}


def test_records_about_events_themselves_are_recognised() -> None:
    assert is_about_an_event(_record(subject="Event/shop/a.17"))
    assert is_about_an_event(_record(subject="events.k8s.io/Event/shop/a.17"))
    assert not is_about_an_event(_record(subject="ConfigMap/shop/a"))
