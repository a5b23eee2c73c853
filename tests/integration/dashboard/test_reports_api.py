"""Reports and bundles made through the API: signed, kept, recorded, verifiable offline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.audit.signing import Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.auth import TokensFile
from gatekeeper.report.bundlecheck import verify_bundle
from gatekeeper.report.signing import ReportSignature, verify_bytes
from tests.integration.dashboard.conftest import MAKER, Dashboard, build_app, seed
from tests.unit.admission.asgi import AsgiClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response


def test_only_a_caller_allowed_create_makes_reports(dashboard: Dashboard) -> None:
    refused = dashboard.post("/api/v1/reports", {"source": "apps"})
    assert refused.status_code == 403
    assert "ann may not create reports.gatekeeper.dev" in refused.json()["error"]
    assert not dashboard.store.query(kinds=["report.generated"]).records


def test_a_bundle_needs_get_as_well_as_create(tmp_path: Path, store: AuditStore) -> None:
    """A bundle is the records themselves: `create` alone makes reports, not bundles."""
    app, integrity, signer = build_app(tmp_path, store)
    tokens = tmp_path / "create-only.yaml"
    digest = hashlib.sha256(b"ci-token").hexdigest()
    tokens.write_text(yaml.safe_dump([{"user": "ci", "verbs": ["create"], "tokenSha256": digest}]))
    app.state.parts = replace(app.state.parts, authenticator=TokensFile.load(tokens))
    seed(store)
    store.checkpoint(signer)
    integrity.refresh(full=True)
    headers = {"Authorization": "Bearer ci-token"}
    with AsgiClient(app) as client:
        assert client.get("/api/v1/events", headers=headers).status_code == 403
        for path, body in (("/api/v1/bundles", {"json": {}}), ("/bundles", {"data": {}})):
            bundle = client.request("POST", path, headers=headers, **body)
            assert bundle.status_code == 403, (path, bundle.status_code)
            assert "zip" not in bundle.headers.get("content-type", "")
            assert "ci may not get reports.gatekeeper.dev" in bundle.text
        made = client.request("POST", "/api/v1/reports", json={}, headers=headers)
        assert made.status_code == 201, made.text
        assert client.get(made.json()["links"]["json"], headers=headers).status_code == 403
    assert [r.payload["type"] for r in store.query(kinds=["report.generated"]).records] == [
        "report"
    ]


def test_a_made_report_is_signed_in_every_format_and_recorded_with_its_digests(
    dashboard: Dashboard,
) -> None:
    made = _ok(dashboard.post("/api/v1/reports", {"source": "apps"}, token=MAKER), 201).json()
    assert made["integrity"] == "verified"
    assert made["made_by"] == "max" and made["signed"] is True
    assert set(made["files"]) == {"json", "csv", "html", "pdf"}
    verifier = Verifier(dashboard.signer.public_key)
    for fmt, described in made["files"].items():
        body = _ok(dashboard.get(made["links"][fmt])).content
        assert hashlib.sha256(body).hexdigest() == described["sha256"]
        signature = ReportSignature.from_bytes(
            _ok(dashboard.get(made["links"][fmt] + "&signature=true")).content
        )
        assert signature.sha256 == described["sha256"]
        verify_bytes(body, signature, key=verifier)
    report = json.loads(dashboard.get(made["links"]["json"]).content)
    assert report["filters"]["source"] == "apps"
    (record,) = dashboard.store.query(kinds=["report.generated"]).records
    assert (record.actor, record.seq) == ("max", made["record"])
    assert record.payload["files"]["pdf"]["sha256"] == made["files"]["pdf"]["sha256"]
    listed = _ok(dashboard.get("/api/v1/reports")).json()["items"]
    assert [item["subject"] for item in listed] == [f"report/{made['id']}"]


def test_an_evidence_bundle_downloads_and_verifies_offline(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    answer = _ok(dashboard.post("/api/v1/bundles", {"source": "apps"}, token=MAKER))
    assert answer.headers["content-type"] == "application/zip"
    path = tmp_path / "evidence.zip"
    path.write_bytes(answer.content)
    checked = verify_bundle(path, Verifier(dashboard.signer.public_key))
    assert checked.records >= 5
    (record,) = dashboard.store.query(kinds=["report.generated"]).records
    assert record.payload["type"] == "bundle"
    assert record.subject == f"bundle/{answer.headers['x-gatekeeper-bundle']}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"colour": "red"}, "colour"),
        ({"source": "nope"}, "unknown source 'nope'"),
        ({"since": "soon"}, "since: 'soon' is not an ISO 8601"),
    ],
)
def test_a_bad_report_request_is_refused_and_nothing_is_recorded(
    dashboard: Dashboard, body: dict[str, str], message: str
) -> None:
    refused = dashboard.post("/api/v1/reports", body, token=MAKER)
    assert refused.status_code == 400
    assert message in refused.json()["error"]
    assert not dashboard.store.query(kinds=["report.generated"]).records


def test_an_unknown_report_is_not_found(dashboard: Dashboard) -> None:
    assert dashboard.get("/api/v1/reports/20260101T000000Z-00000000").status_code == 404
    assert dashboard.get("/api/v1/reports/..%2F..%2Fetc").status_code in (400, 404)


def test_before_any_report_the_list_is_empty_not_an_error(dashboard: Dashboard) -> None:
    assert _ok(dashboard.get("/api/v1/reports")).json()["items"] == []


def test_a_write_riding_on_the_sign_in_cookie_from_another_site_is_refused(
    dashboard: Dashboard,
) -> None:
    answer = dashboard.client.request(
        "POST",
        "/api/v1/reports",
        json={"source": "apps"},
        headers={
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
            "Cookie": f"gatekeeper_session={MAKER}",
        },
    )
    assert answer.status_code == 400
    assert "from its own origin" in answer.json()["error"]
    assert not dashboard.store.query(kinds=["report.generated"]).records
