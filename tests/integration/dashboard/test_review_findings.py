"""Review of the auditors' dashboard and report API: each test reproduces one finding.

Every test here FAILS on the reviewed code (branch main at ae19356): it states the behaviour
the contracts (DESIGN.md sections 8, 11, 12; docs/dashboard.md, docs/reports.md,
docs/security.md) promise, against a real SQLite (and PostgreSQL when running) audit store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gatekeeper.audit import chain
from gatekeeper.audit.store import AuditStore
from tests.integration.audit.test_tamper import tamper
from tests.integration.dashboard.conftest import Dashboard

pytestmark = pytest.mark.integration


# -- helpers -----------------------------------------------------------------------------------


def _served(dashboard: Dashboard, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The request as a real server would answer it: an exception escaping the app is a 500
    response here, not an exception raised into the test."""
    client = dashboard.client
    transport = httpx.ASGITransport(app=client._app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook") as http:
            return await http.request(method, path, **kwargs)

    return client._loop.run_until_complete(call())


def _forge(store: AuditStore, payload_json: str, *, kind: str = "admission.allowed") -> int:
    """Append a row with a correctly recomputed hash over exactly the stored payload text,
    as someone who can write the database would (the chain check then names it)."""
    seq, prev = store.head()
    seq += 1
    moment = datetime.now(UTC)
    time_text = chain.format_time(moment)
    digest = chain.record_hash(
        seq=seq,
        time=time_text,
        kind=kind,
        actor="mallory",
        subject="",
        source=None,
        commit=None,
        payload_json=payload_json,
        prev_hash=prev,
    )
    stored: object = moment if store.engine.dialect.name == "postgresql" else time_text
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, prev_hash, "
                "hash) VALUES (:seq, :time, :kind, 'mallory', '', :payload, :prev, :hash)"
            ),
            {
                "seq": seq,
                "time": stored,
                "kind": kind,
                "payload": payload_json,
                "prev": prev,
                "hash": digest,
            },
        )
    return seq


# -- 5. unhashed index columns decide what namespace / objectKind filters return --------------


def test_editing_an_unhashed_column_cannot_hide_a_verified_break_glass(
    dashboard: Dashboard,
) -> None:
    """`namespace` and `objectKind` filter on `obj_namespace` / `obj_kind`, columns outside the
    record's hash that no check compares with the subject. Someone who can write the database
    (docs/security.md: "nothing: changes to records ... are detected") moves a break-glass out
    of its namespace: the chain still verifies, the record is still "verified", and the
    incidents and records of that namespace no longer show it."""
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
