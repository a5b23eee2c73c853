"""Compliance reports from a real audit store, in every format, and through the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli import main
from gatekeeper.report.model import build_report
from gatekeeper.report.render import render

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def history(store: AuditStore, signer: Signer) -> AuditStore:
    """A day of activity, one event an hour, then a checkpoint."""
    ticks = count()
    timed = AuditStore(store.engine, clock=lambda: START + timedelta(hours=next(ticks)))
    events = [
        NewEvent(
            kind="sync.applied",
            actor="reconciler",
            subject="apps",
            source="apps",
            commit="a" * 40,
            payload={"objects": 3},
        ),
        NewEvent(
            kind="sync.rejected",
            actor="reconciler",
            subject="apps",
            source="apps",
            commit="b" * 40,
            payload={"reasons": ["commit bbbb is unsigned"]},
        ),
        NewEvent(
            kind="admission.denied",
            actor="alice",
            subject="team-a/Deployment/<script>",
            payload={"reasons": ["managed by Git: change apps/web.yaml instead"]},
        ),
        NewEvent(
            kind="breakglass",
            actor="bob",
            subject="team-a/Deployment/web",
            payload={
                "reason": "INC-42 outage",
                "object": {"kind": "Secret", "apiVersion": "v1", "data": {"k": "c2VjcmV0"}},
            },
        ),
        NewEvent(
            kind="drift.detected",
            actor="reconciler",
            subject="team-a/Deployment/web",
            source="apps",
            payload={"message": "spec.replicas 2 -> 5 by kubectl-edit"},
        ),
        NewEvent(
            kind="rollback",
            actor="carol",
            subject="apps",
            source="apps",
            commit="a" * 40,
            payload={"reason": "=cmd|' /C calc'!A0"},
        ),
    ]
    for event in events:
        timed.append(event)
    store.checkpoint(signer)
    return timed


def test_the_report_groups_the_periods_events_and_verifies_the_log(
    history: AuditStore, signer: Signer
) -> None:
    report = build_report(history, since=None, until=None, verifier=Verifier(signer.public_key))
    assert report.integrity.ok and report.integrity.checkpoints_checked
    assert report.counts == {
        "admission.denied": 1,
        "breakglass": 1,
        "drift.detected": 1,
        "rollback": 1,
        "sync.applied": 1,
        "sync.rejected": 1,
    }
    sections = {section.key: section for section in report.sections}
    assert [r.kind for r in sections["rejected"].rows] == ["sync.rejected"]
    assert sections["rejected"].rows[0].summary == "commit bbbb is unsigned"
    assert sections["breakglass"].rows[0].summary == "INC-42 outage"
    assert sections["policy"].rows == ()


def test_the_period_bounds_select_events(history: AuditStore) -> None:
    report = build_report(
        history, since=START + timedelta(hours=1), until=START + timedelta(hours=3), verifier=None
    )
    assert [row.kind for row in report.events] == ["sync.rejected", "admission.denied"]
    assert not report.integrity.checkpoints_checked


def test_every_format_renders_and_json_is_complete(history: AuditStore, signer: Signer) -> None:
    report = build_report(history, since=None, until=None, verifier=Verifier(signer.public_key))
    data = json.loads(render(report, "json"))
    assert data["integrity"]["ok"] is True
    assert len(data["events"]) == 6
    assert data["sections"]["admission_denied"]["events"][0]["actor"] == "alice"
    assert "c2VjcmV0" not in render(report, "json").decode()

    rows = list(csv.DictReader(io.StringIO(render(report, "csv").decode())))
    assert [row["seq"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[5]["summary"].startswith("'=")

    html = render(report, "html").decode()
    assert "Audit log verified: 6 records" in html
    assert "&lt;script&gt;" in html and "<script>" not in html

    pdf = render(report, "pdf")
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1


def test_a_tampered_log_is_reported_as_such_and_the_cli_exits_one(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = tmp_path / "audit.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = tmp_path / "gatekeeper.yaml"
    url = history.engine.url.render_as_string(hide_password=False)
    config.write_text(
        json.dumps({"database": {"url": url}, "audit": {"publicKeyFile": str(public)}})
    )
    out = tmp_path / "report.html"
    assert main(["--config", str(config), "report", "--format", "html", "-o", str(out)]) == 0
    assert "Audit log verified" in out.read_text()

    with history.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE seq = 3"))
    out_json = tmp_path / "report.json"
    assert main(["--config", str(config), "report", "--format", "json", "-o", str(out_json)]) == 1
    data = json.loads(out_json.read_text())
    assert data["integrity"]["ok"] is False and data["integrity"]["first_bad_seq"] == 3
    assert "fails verification" in capsys.readouterr().err


def test_bad_report_options_are_usage_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "r")
    assert main(["report", "--format", "docx", "-o", out]) == 2
    assert main(["report", "--since", "2026-11-02", "--until", "2026-11-01", "-o", out]) == 2
