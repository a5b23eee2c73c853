"""The webhook app over ASGI: bad input gets HTTP 400, failures are answered as configured."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.admission.app import create_app
from gatekeeper.admission.ports import PolicyOutcome, ProvenanceFacts
from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.settings import Settings
from tests.unit.admission.asgi import AsgiClient
from tests.unit.admission.doubles import (
    RECONCILER,
    MemoryPolicies,
    deployment,
    live,
    request,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    found = AuditStore(engine)
    yield found
    found.close()


def _settings(**admission: Any) -> Settings:
    return Settings(
        admission={"reconcilerIdentity": RECONCILER, **admission},
        server={"maxBodyBytes": 64 * 1024},
    )


@pytest.fixture
def client(store: AuditStore) -> Iterator[AsgiClient]:
    app = create_app(_settings(), store=store, policies=MemoryPolicies())
    with AsgiClient(app) as found:
        yield found


def _review(req: AdmissionRequest) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}}


def test_a_review_is_answered_and_recorded_with_its_sequence_number(
    client: AsgiClient, store: AuditStore
) -> None:
    answer = client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP)))
    assert answer.status_code == 200
    body = answer.json()
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    response = body["response"]
    assert response["allowed"] is True
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    record = store.get(int(response["auditAnnotations"]["audit-seq"]))
    assert record is not None
    assert record.kind == "admission.allowed" and record.actor == "alice"
    assert record.payload["uid"] == response["uid"]
    assert record.payload["groups"] == ["developers"]
    assert record.payload["policy_set_version"] == "sha256:test-policies"


def test_a_denied_review_carries_the_message_and_commit(
    client: AsgiClient, store: AuditStore
) -> None:
    old = live(deployment())
    changed = json.loads(json.dumps(old))
    changed["spec"]["replicas"] = 9
    response = client.post("/validate", json=_review(request("UPDATE", obj=changed, old=old)))
    answer = response.json()["response"]
    assert answer["allowed"] is False
    assert answer["status"]["code"] == 403
    assert "managed from Git" in answer["status"]["message"]
    assert answer["auditAnnotations"]["commit"] == "a" * 40
    record = store.get(int(answer["auditAnnotations"]["audit-seq"]))
    assert record is not None and record.kind == "admission.denied"
    assert record.commit == "a" * 40


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not an AdmissionReview v1"),
        (b"", "empty"),
        (
            json.dumps(
                {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}
            ).encode(),
            "apiVersion must be",
        ),
        (
            json.dumps(
                {"apiVersion": "admission.k8s.io/v1", "kind": "Pod", "request": {}}
            ).encode(),
            "kind must be",
        ),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
            "request is missing",
        ),
    ],
)
def test_malformed_reviews_get_400_with_a_message(
    client: AsgiClient, body: bytes, expected: str
) -> None:
    answer = client.post("/validate", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert expected in answer.json()["message"]


def test_a_review_without_a_uid_gets_400_and_one_with_a_uid_a_refusal(
    client: AsgiClient, store: AuditStore
) -> None:
    review = _review(request("UPDATE", obj=CONFIG_MAP, old=CONFIG_MAP))
    del review["request"]["uid"]
    review["request"]["oldObject"] = None
    answer = client.post("/validate", json=review)
    assert answer.status_code == 400
    assert "request.uid is missing" in answer.json()["message"]
    review["request"]["uid"] = "x"
    answer = client.post("/validate", json=review)
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["uid"] == "x" and response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "oldObject is required for UPDATE" in response["status"]["message"]
    assert store.query(limit=10).records == []  # nothing was decided, nothing recorded
    metrics = client.get("/metrics").text
    assert 'gatekeeper_admission_bad_requests_total{reason="malformed"} 2.0' in metrics


def test_a_body_over_the_limit_gets_400(client: AsgiClient) -> None:
    big = dict(CONFIG_MAP, data={"blob": "x" * 70 * 1024})
    answer = client.post("/validate", json=_review(request("CREATE", obj=big)))
    assert answer.status_code == 400
    assert "over the limit of 65536 bytes" in answer.json()["message"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(70):
            yield b"x" * 1024

    streamed = client.post("/validate", content=chunks())
    assert streamed.status_code == 400
    assert "over the limit" in streamed.json()["message"]


def test_validate_only_takes_post_and_other_paths_still_reach_the_api(client: AsgiClient) -> None:
    answer = client.get("/validate")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert "use POST" in answer.json()["message"]
    assert client.get("/validate/extra").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}


class _SlowPolicies(MemoryPolicies):
    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome:
        time.sleep(2.5)
        return super().evaluate(request, provenance)


@pytest.mark.parametrize("fail_closed", [True, False])
def test_a_slow_policy_is_cut_off_and_answered_as_configured(
    store: AuditStore, fail_closed: bool
) -> None:
    settings = _settings(decisionTimeout="200ms", failClosed=fail_closed)
    app = create_app(settings, store=store, policies=_SlowPolicies())
    with AsgiClient(app) as client:
        started = time.monotonic()
        answer = client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP)))
        elapsed = time.monotonic() - started
        metrics = client.get("/metrics").text
    assert answer.status_code == 200
    assert elapsed < 2.3  # answered at the deadline, well before the policy would end
    response = answer.json()["response"]
    assert response["allowed"] is (not fail_closed)
    if fail_closed:
        assert "took longer than 0.2 s" in response["status"]["message"]
    else:
        assert "took longer than 0.2 s" in response["warnings"][0]
    assert 'gatekeeper_admission_failures_total{cause="timeout"} 1.0' in metrics


class _BrokenRecorder:
    def record(self, event: NewEvent, *, timeout: float) -> int:
        raise OSError("disk full")

    def record_later(self, event: NewEvent, *, on_failure: Callable[[str], None]) -> None:
        raise OSError("disk full")


@pytest.mark.parametrize("fail_closed", [True, False])
def test_when_the_store_cannot_record_managed_objects_are_refused(
    store: AuditStore, fail_closed: bool
) -> None:
    settings = _settings(failClosed=fail_closed)
    app = create_app(settings, store=store, policies=MemoryPolicies(), recorder=_BrokenRecorder())
    ledger_commit = "a" * 40
    Ledger(store).record_commit("apps", ledger_commit)
    managed = live(deployment())
    with AsgiClient(app) as client:
        on_managed = client.post(
            "/validate",
            json=_review(request("DELETE", old=managed, user=RECONCILER, groups=())),
        ).json()["response"]
        on_unmanaged = client.post(
            "/validate", json=_review(request("CREATE", obj=CONFIG_MAP))
        ).json()["response"]
    assert on_managed["allowed"] is False
    assert "audit store cannot record the decision (disk full)" in on_managed["status"]["message"]
    assert "audit-seq" not in on_managed["auditAnnotations"]
    assert on_unmanaged["allowed"] is (not fail_closed)
    assert ledger_commit not in json.dumps(on_unmanaged)


def test_an_answer_given_without_its_record_is_never_contradicted_by_a_late_record(
    store: AuditStore, tmp_path: Path
) -> None:
    # Another process holds the audit database's write lock past the decision's deadline.
    holder = os.open(tmp_path / "audit.db-writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        app = create_app(_settings(decisionTimeout="300ms"), store=store, policies=MemoryPolicies())
        with AsgiClient(app) as client:
            answers = [
                client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP))).json()
                for _ in range(2)
            ]
            fcntl.flock(holder, fcntl.LOCK_UN)
            time.sleep(0.3)
    finally:
        os.close(holder)
    for answer in answers:
        response = answer["response"]
        assert response["allowed"] is False
        assert "audit store cannot record the decision" in response["status"]["message"]
    # Nothing the webhook did not answer as recorded lands once the lock is free.
    assert store.count() == 0


def test_a_cut_off_decision_whose_record_is_lost_is_counted(
    store: AuditStore, tmp_path: Path
) -> None:
    holder = os.open(tmp_path / "audit.db-writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        settings = _settings(decisionTimeout="200ms")
        app = create_app(settings, store=store, policies=_SlowPolicies())
        with AsgiClient(app) as client:
            answer = client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP)))
            time.sleep(0.8)  # the queued record waits 200 ms for the lock, then fails
            metrics = client.get("/metrics").text
    finally:
        os.close(holder)
    assert answer.json()["response"]["allowed"] is False
    assert 'gatekeeper_admission_failures_total{cause="timeout"} 1.0' in metrics
    assert 'gatekeeper_admission_failures_total{cause="audit"} 1.0' in metrics
    assert store.count() == 0


def test_health_readiness_and_metrics(client: AsgiClient, store: AuditStore) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP)))
    client.post("/validate", content=b"{")
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'gatekeeper_admission_requests_total{decision="admission.allowed",operation="CREATE"} 1.0'
        in text
    )
    assert 'gatekeeper_admission_bad_requests_total{reason="malformed"} 1.0' in text
    assert "gatekeeper_admission_duration_seconds_count 1.0" in text


def test_readiness_fails_when_the_database_was_never_migrated(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    store = AuditStore(engine)
    app = create_app(_settings(), store=store, policies=MemoryPolicies())
    with AsgiClient(app) as client:
        ready = client.get("/readyz")
    store.close()
    assert ready.status_code == 503
    assert "gatekeeper db upgrade" in ready.json()["reason"]


class _CrashingPolicies(MemoryPolicies):
    def evaluate(self, request: AdmissionRequest, provenance: ProvenanceFacts) -> PolicyOutcome:
        raise RuntimeError("engine crashed")


def test_a_failure_of_the_fallback_itself_is_refused_not_a_500(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gatekeeper.admission import decision

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("fallback broken")

    monkeypatch.setattr(decision, "undecided", failing)
    app = create_app(_settings(), store=store, policies=_CrashingPolicies())
    with AsgiClient(app) as client:
        answer = client.post("/validate", json=_review(request("CREATE", obj=CONFIG_MAP)))
        metrics = client.get("/metrics").text
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "the webhook failed on this request (KeyError)" in response["status"]["message"]
    assert 'gatekeeper_admission_failures_total{cause="error"} 2.0' in metrics
