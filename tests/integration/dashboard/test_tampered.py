"""The dashboard over a log edited with raw SQL: it never calls an edited record verified,
never answers 500, and never hands out an export that silently lacks records."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from gatekeeper.audit.errors import CorruptRecord
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Verifier
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.model import build_report
from gatekeeper.report.render import render
from tests.integration.audit.test_malformed import forge
from tests.integration.audit.test_tamper import tamper
from tests.integration.dashboard.conftest import (
    MAKER,
    READER,
    Dashboard,
    build_app,
    served_answer,
)

pytestmark = pytest.mark.integration


def test_a_record_edited_since_the_last_full_check_is_not_called_verified(
    dashboard: Dashboard,
) -> None:
    tamper(dashboard.store, "UPDATE audit_events SET payload = :p WHERE seq = 3", p='{"x":1}')
    detail = dashboard.get("/api/v1/events/3").json()
    assert detail["proof"]["hash_matches"] is False
    assert detail["record"]["verified"] is False
    listing = {
        item["seq"]: item["verified"] for item in dashboard.get("/api/v1/events").json()["items"]
    }
    assert listing[3] is False
    assert listing[2] is True


def test_the_record_page_never_shows_an_edited_record_as_verified(dashboard: Dashboard) -> None:
    """Its Verified row states the record's own verification, as the API does, not only
    whether a valid checkpoint covers its seq."""
    page = dashboard.get("/events/3").text
    assert re.search(r"<dt>Verified</dt><dd><span class=\"badge status-verified\">", page)
    tamper(dashboard.store, "UPDATE audit_events SET payload = :p WHERE seq = 3", p='{"x":1}')
    assert dashboard.get("/api/v1/events/3").json()["record"]["verified"] is False
    page = dashboard.get("/events/3").text
    verified_row = re.search(r"<dt>Verified</dt><dd>(.*?)</dd>", page, re.S)
    assert verified_row is not None
    assert "status-verified" not in verified_row.group(1), verified_row.group(1)
    assert "not verified" in verified_row.group(1)


def test_a_forged_record_with_a_non_canonical_payload_is_neither_verified_nor_passed(
    dashboard: Dashboard,
) -> None:
    seq = forge(dashboard.store, '{"z":1,"a":[1.0]}')
    dashboard.store.checkpoint(dashboard.signer)
    state = dashboard.integrity.refresh(full=True)
    assert state.status == "tampered"
    assert [f.seq for f in state.findings] == [seq]
    record = dashboard.get(f"/api/v1/events/{seq}").json()
    assert record["record"]["verified"] is False
    assert record["proof"]["hash_matches"] is False


@pytest.mark.parametrize("payload", ["[1,2]", '"just a string"', '{"n":99999999999999999999}'])
def test_a_malformed_record_is_reported_as_tampering_never_as_a_server_error(
    dashboard: Dashboard, payload: str
) -> None:
    seq = forge(dashboard.store, payload)
    dashboard.store.checkpoint(dashboard.signer)
    dashboard.integrity.refresh(full=True)
    integrity = dashboard.get("/api/v1/integrity")
    assert integrity.status_code == 200
    assert integrity.json()["status"] == "tampered"
    assert integrity.json()["first_bad_seq"] == seq
    for path in (
        "/api/v1/events",
        f"/api/v1/events/{seq}",
        "/api/v1/changes",
        "/api/v1/rollbacks",
        "/api/v1/sample?n=3&seed=1",
        "/api/v1/sources",
        "/events",
        "/changes",
        "/rollbacks",
        "/sources/apps",
    ):
        answer = dashboard.get(path)
        assert answer.status_code in (200, 503), path
        if answer.status_code == 503 and path.startswith("/api/"):
            assert answer.json()["tampered"] is True
            assert str(seq) in answer.json()["error"]
    if payload != '{"n":99999999999999999999}':
        assert dashboard.get(f"/api/v1/events/{seq}").json()["seq"] == seq


def test_integrity_answers_when_the_last_row_is_not_a_record(dashboard: Dashboard) -> None:
    if dashboard.store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's bigint refuses a text seq")
    tamper(
        dashboard.store,
        "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, prev_hash, hash) "
        "SELECT 'x', time, kind, actor, subject, payload, hash, hash FROM audit_events "
        "WHERE seq = 8",
    )
    dashboard.integrity.refresh(full=True)
    answer = dashboard.get("/api/v1/integrity")
    assert answer.status_code == 200
    assert answer.json()["status"] == "tampered"
    assert answer.json()["first_bad_seq"] == 9
    assert dashboard.get("/api/v1/events").status_code in (200, 503)


def test_editing_an_unhashed_column_cannot_hide_a_verified_break_glass(
    dashboard: Dashboard,
) -> None:
    """`namespace` filters on `obj_namespace`, a column outside the record's hash: a
    break-glass moved out of its namespace must either still be listed there or leave the
    log not verified."""
    shown = [i["seq"] for i in dashboard.get("/api/v1/incidents?namespace=shop").json()["items"]]
    assert shown == [4]  # the break-glass on ConfigMap/shop/settings
    tamper(dashboard.store, "UPDATE audit_events SET obj_namespace = 'elsewhere' WHERE seq = 4")
    dashboard.integrity.refresh(full=True)
    status = dashboard.get("/api/v1/integrity").json()["status"]
    incidents = [
        i["seq"] for i in dashboard.get("/api/v1/incidents?namespace=shop").json()["items"]
    ]
    records = [i["seq"] for i in dashboard.get("/api/v1/events?namespace=shop").json()["items"]]
    assert status != "verified" or (4 in incidents and 4 in records), (status, incidents, records)


# A row written to close the event and the array and add its own `integrity` and `events`:
# JSON parsers keep the last duplicate key, so pasted in as it is it would rewrite the report.
INJECTED = '{}}],"integrity":{"status":"verified","verified":true,"findings":[]},"events":[{"a":{}'


@pytest.mark.parametrize("path", ["/api/v1/reports", "/api/v1/bundles"])
@pytest.mark.parametrize("payload", ["not json", "[1,2]", INJECTED])
def test_a_payload_that_is_not_a_json_object_inside_the_period_is_a_503_tampered(
    dashboard: Dashboard, path: str, payload: str
) -> None:
    seq = forge(dashboard.store, payload)
    # A record after it keeps the damaged row inside the period, not at its end.
    dashboard.store.append(NewEvent(kind="admission.allowed", actor="x", subject="y"))
    dashboard.integrity.refresh(full=True)
    answer = served_answer(
        dashboard, "POST", path, json={}, headers={"Authorization": f"Bearer {MAKER}"}
    )
    assert answer.status_code == 503, (answer.status_code, answer.text[:200])
    assert answer.json()["tampered"] is True
    assert answer.json()["seq"] == seq
    assert f"record {seq}" in answer.json()["error"]


def test_a_report_never_pastes_a_stored_payload_in_as_text(dashboard: Dashboard) -> None:
    seq = forge(dashboard.store, INJECTED)
    dashboard.store.append(NewEvent(kind="admission.allowed", actor="x", subject="y"))
    with pytest.raises(CorruptRecord) as raised:
        built = build_report(
            dashboard.store, ReportFilters(), verifier=Verifier(dashboard.signer.public_key)
        )
        render(built, "json")
    assert raised.value.seq == seq


def test_a_json_object_stored_in_another_form_is_written_again_as_one(
    dashboard: Dashboard,
) -> None:
    """A payload edited into a valid but non-canonical object is re-serialised: the report
    and the bundle each hold it as one JSON object, and say the log is tampered with."""
    seq = forge(dashboard.store, '{ "z": 1, "a": ["x"] }')
    dashboard.store.append(NewEvent(kind="admission.allowed", actor="x", subject="y"))
    built = build_report(
        dashboard.store, ReportFilters(), verifier=Verifier(dashboard.signer.public_key)
    )
    report = json.loads(render(built, "json"))
    assert report["integrity"]["status"] == "tampered"
    assert len(report["events"]) == built.period.count
    forged = next(event for event in report["events"] if event["seq"] == seq)
    assert forged["payload"] == {"a": ["x"], "z": 1}
    made = dashboard.post("/api/v1/bundles", {}, token=MAKER)
    assert made.status_code == 200, made.text
    with zipfile.ZipFile(io.BytesIO(made.content)) as archive:
        lines = archive.read("events.ndjson").decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert next(e for e in events if e["seq"] == seq)["payload"] == {"a": ["x"], "z": 1}


def test_a_damaged_row_in_a_bundles_span_outside_its_filters_is_a_503(
    dashboard: Dashboard,
) -> None:
    """The bundle's events.ndjson holds every record of its span, those of other sources
    too: a damaged one among them fails the bundle instead of breaking a line of it."""
    seq = forge(dashboard.store, INJECTED)
    dashboard.store.append(
        NewEvent(kind="sync.applied", actor="gatekeeper", subject="source/apps", source="apps")
    )
    dashboard.integrity.refresh(full=True)
    answer = served_answer(
        dashboard,
        "POST",
        "/api/v1/bundles",
        json={"source": "apps"},
        headers={"Authorization": f"Bearer {MAKER}"},
    )
    assert answer.status_code == 503, (answer.status_code, answer.text[:200])
    assert answer.json()["seq"] == seq


@pytest.fixture
def served(dashboard: Dashboard, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard's app behind a real uvicorn on a free port (so that a cut transfer is
    what a client really sees)."""
    app, _integrity, _signer = build_app(
        tmp_path_factory.mktemp("served"), dashboard.store, with_key=True
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(("wanted", "last_line"), [("csv", '"# error: '), ("ndjson", '{"error": ')])
def test_an_export_that_fails_part_way_is_an_incomplete_transfer_not_a_shorter_file(
    dashboard: Dashboard, served: str, wanted: str, last_line: str
) -> None:
    dashboard.store.append_many(
        [
            NewEvent(kind="sync.applied", actor="a", source="apps", payload={"i": i})
            for i in range(2500)
        ]
    )
    forge(dashboard.store, "[1,2]")
    received = bytearray()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "GET",
            f"{served}/api/v1/events?format={wanted}",
            headers={"Authorization": f"Bearer {READER}"},
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
    lines = received.decode().splitlines()
    assert lines[-1].startswith(last_line)
    assert "record 2509 is damaged" in lines[-1]


def test_an_export_that_succeeds_is_complete(dashboard: Dashboard, served: str) -> None:
    answer = httpx.get(
        f"{served}/api/v1/events?format=ndjson",
        headers={"Authorization": f"Bearer {READER}"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert len(answer.text.splitlines()) == 1 + 8
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
