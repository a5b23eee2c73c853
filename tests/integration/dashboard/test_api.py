"""The report API on a real audit store: who may read, filters, paging, exports, proofs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.audit.errors import WitnessError
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.witness import FolderWitness
from gatekeeper.dashboard.errors import Forbidden
from gatekeeper.dashboard.integrity import IntegrityMonitor
from tests.integration.audit.test_tamper import tamper
from tests.integration.dashboard.conftest import MAKER, Dashboard, seed, served_answer

pytestmark = pytest.mark.integration


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_nothing_is_answered_without_a_known_token(dashboard: Dashboard) -> None:
    for token in (None, "not-a-token"):
        response: Any = dashboard.get("/api/v1/events", token=token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "records" not in response.text
    malformed = dashboard.client.get("/api/v1/events", headers={"Authorization": "Basic x"})
    assert malformed.status_code == 401
    assert "Bearer <token>" in malformed.json()["error"]


def test_events_are_listed_oldest_first_and_filtered_by_every_filter(dashboard: Dashboard) -> None:
    everything = _json(dashboard.get("/api/v1/events"))["items"]
    assert [item["seq"] for item in everything] == list(range(1, 9))

    def seqs(query: str) -> list[int]:
        return [item["seq"] for item in _json(dashboard.get(f"/api/v1/events?{query}"))["items"]]

    assert seqs("source=infra") == [7]
    assert seqs("kind=breakglass,rollback") == [4, 8]
    assert seqs("namespace=shop") == [2, 3, 4, 5, 6]
    assert seqs("objectKind=ConfigMap&kind=drift.detected") == [5]
    assert seqs("actor=alice") == [3]
    assert seqs(f"commit={'b' * 40}") == [7]
    assert seqs("since=2000-01-01&until=2000-01-02") == []


def test_pages_follow_cursors_to_the_end_and_state_their_filters(dashboard: Dashboard) -> None:
    seen: list[int] = []
    query = "/api/v1/events?namespace=shop&limit=2"
    while True:
        body = _json(dashboard.get(query))
        assert body["filters"]["namespace"] == "shop"
        assert body["filters"]["source"] is None
        seen += [item["seq"] for item in body["items"]]
        if body["next"] is None:
            break
        query = f"/api/v1/events?namespace=shop&limit=2&after={body['next']}"
    assert seen == [2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour=red", "unknown filter 'colour'"),
        ("n=5", "unknown filter 'n'"),
        ("since=yesterday", "since: 'yesterday' is not an ISO 8601 date or time"),
        ("since=2026-02-01&until=2026-01-01", "until: --until must be after --since"),
        ("source=nope", "unknown source 'nope'; known sources: apps, infra"),
        ("limit=0", "limit must be a whole number"),
        ("limit=abc", "limit must be a whole number"),
        ("commit=xyz", "commit: 'xyz' is not a full commit SHA"),
        ("kind=no.such", "kind: 'no.such' is not a kind the gatekeeper records"),
        ("kind=Not A Kind", "is not an event kind"),
        ("after=%%%", "not a cursor this API gave out"),
    ],
)
def test_bad_input_gets_a_400_that_says_what_is_wrong(
    dashboard: Dashboard, query: str, message: str
) -> None:
    body = _json(dashboard.get(f"/api/v1/events?{query}"), 400)
    assert message in body["error"]


def test_a_cursor_from_another_query_is_refused(dashboard: Dashboard) -> None:
    cursor = _json(dashboard.get("/api/v1/events?limit=1"))["next"]
    body = _json(dashboard.get(f"/api/v1/events?limit=1&source=apps&after={cursor}"), 400)
    assert "cursor of another query" in body["error"]


def test_ndjson_streams_every_record_whole_after_a_line_stating_filters(
    dashboard: Dashboard,
) -> None:
    response: Any = dashboard.get(
        "/api/v1/events?source=apps", headers={"Accept": "application/x-ndjson"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[0]["export"]["filters"]["source"] == "apps"
    records = lines[1:]
    assert [r["seq"] for r in records] == [1, 2, 5, 6, 8]
    assert records[-1]["payload"] == {"reason": "bad release"}
    assert all(len(r["hash"]) == 64 and len(r["prev_hash"]) == 64 for r in records)


def test_csv_states_its_filters_and_keeps_unicode_and_defuses_formulas(
    dashboard: Dashboard,
) -> None:
    dashboard.store.append(NewEvent(kind="admission.denied", actor="=cmd|calc", subject="x"))
    response: Any = dashboard.get("/api/v1/events?format=csv")
    assert response.status_code == 200
    text = response.text
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][0].startswith('# filters: {"actor": null, "commit": null, ')
    assert lines[1][0].startswith("# integrity: ")
    rows = list(csv.DictReader(io.StringIO("\n".join(text.splitlines()[2:]))))
    assert "INC-7 → fix €" in rows[3]["payload"]
    assert rows[-1]["actor"] == "'=cmd|calc"


def test_records_after_the_last_checkpoint_are_never_shown_verified(dashboard: Dashboard) -> None:
    dashboard.store.append(
        NewEvent(
            kind="sync.applied",
            actor="gatekeeper",
            subject="source/apps",
            source="apps",
            commit="de" * 20,
        )
    )
    dashboard.integrity.refresh()
    items = _json(dashboard.get("/api/v1/events"))["items"]
    assert [item["verified"] for item in items] == [True] * 8 + [False]
    integrity = _json(dashboard.get("/api/v1/integrity"))
    assert integrity["status"] == "partly-verified"
    assert integrity["verified"] is False
    assert integrity["uncovered_records"] == 1
    assert integrity["uncovered_range"] == [9, 9]
    assert integrity["last_checkpoint"]["seq"] == 8


def test_without_a_public_key_nothing_is_verified(make_dashboard: Callable[..., Dashboard]) -> None:
    board = make_dashboard(with_key=False)
    seed(board.store)
    board.store.checkpoint(board.signer)
    board.integrity.refresh(full=True)
    integrity = _json(board.get("/api/v1/integrity"))
    assert integrity["status"] == "not-verified"
    assert integrity["public_key_configured"] is False
    assert not any(item["verified"] for item in _json(board.get("/api/v1/events"))["items"])


def test_one_record_comes_with_its_proof(dashboard: Dashboard) -> None:
    body = _json(dashboard.get("/api/v1/events/5"))
    proof = body["proof"]
    assert body["record"]["kind"] == "drift.detected"
    assert proof["hash_matches"] and proof["link_matches"]
    assert proof["previous"]["hash"] == body["record"]["prev_hash"]
    assert proof["checkpoint"]["seq"] == 8
    assert proof["covered_by_valid_checkpoint"] is True
    missing = _json(dashboard.get("/api/v1/events/99"), 404)
    assert "there is no record 99" in missing["error"]
    assert dashboard.get("/api/v1/events/0").status_code == 400  # type: ignore[attr-defined]


def test_sources_controls_and_rollbacks_are_served(dashboard: Dashboard) -> None:
    sources = _json(dashboard.get("/api/v1/sources"))["items"]
    assert [(s["name"], s["records"]) for s in sources] == [("apps", 5), ("infra", 1)]
    controls = _json(dashboard.get("/api/v1/controls"))["items"]
    ids = {(c["framework"], c["id"]) for c in controls}
    assert ("SOC 2", "CC8.1") in ids
    assert ("NIST SP 800-53 Rev. 5", "AU-10") in ids
    assert all(c["evidence"] for c in controls)
    rollbacks = _json(dashboard.get("/api/v1/rollbacks", token=MAKER))["items"]
    assert [r["payload"]["reason"] for r in rollbacks] == ["bad release"]


def test_health_and_readiness_need_no_token_and_tell_nothing_of_the_log(
    dashboard: Dashboard,
) -> None:
    assert _json(dashboard.get("/healthz", token=None)) == {"status": "ok"}
    assert _json(dashboard.get("/readyz", token=None)) == {"status": "ok"}


def test_a_change_links_the_reconcilers_admissions_of_its_commit(dashboard: Dashboard) -> None:
    changes = _json(dashboard.get("/api/v1/changes"))["items"]
    assert [(c["seq"], c["source"]) for c in changes] == [(1, "apps"), (7, "infra")]
    first = changes[0]
    assert first["commit"] == "a" * 40
    assert [a["seq"] for a in first["admissions"]] == [2]
    assert first["verified"] is True
    # Older records that lack a field say so with null, never a guess.
    assert first["commits"] is None and first["policy_set"] is None


def test_break_glass_drift_and_correction_are_one_incident_with_its_times(
    dashboard: Dashboard,
) -> None:
    (incident,) = _json(dashboard.get("/api/v1/incidents"))["items"]
    assert incident["type"] == "break-glass"
    assert incident["reason"] == "INC-7 → fix €"
    assert (incident["break_glass"]["seq"], incident["detected"]["seq"]) == (4, 5)
    assert incident["corrected"]["seq"] == 6
    assert incident["time_to_detect_seconds"] >= 0
    assert incident["time_to_correct_seconds"] >= 0
    assert incident["open"] is False


def test_a_drift_nobody_declared_is_an_incident_of_its_own_until_corrected(
    dashboard: Dashboard,
) -> None:
    dashboard.store.append(
        NewEvent(
            kind="drift.detected",
            actor="gatekeeper",
            subject="apps/Deployment/bank/api",
            source="apps",
            payload={"actors": [{"manager": "kubectl-edit"}]},
        )
    )
    items = _json(dashboard.get("/api/v1/incidents?namespace=bank"))["items"]
    assert [(i["type"], i["open"], i["changed_by"]) for i in items] == [
        ("drift", True, [{"manager": "kubectl-edit"}])
    ]


def test_a_sample_is_the_same_for_the_same_seed_and_states_how_it_was_drawn(
    dashboard: Dashboard,
) -> None:
    for index in range(30):
        dashboard.store.append(
            NewEvent(
                kind="sync.applied",
                actor="gatekeeper",
                subject="source/apps",
                source="apps",
                commit=f"{index:040x}",
            )
        )
    first = _json(dashboard.get("/api/v1/sample?n=5&seed=42"))
    again = _json(dashboard.get("/api/v1/sample?n=5&seed=42"))
    other = _json(dashboard.get("/api/v1/sample?n=5&seed=43"))
    assert [c["seq"] for c in first["items"]] == [c["seq"] for c in again["items"]]
    assert [c["seq"] for c in first["items"]] != [c["seq"] for c in other["items"]]
    assert (first["population"], first["n"], first["seed"]) == (32, 5, 42)
    assert "random.Random(seed).sample" in first["method"]
    assert "n must be a whole number" in _json(dashboard.get("/api/v1/sample?n=0"), 400)["error"]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_payloads = st.dictionaries(
    st.sampled_from(
        [
            "objects",
            "changed",
            "applied",
            "warnings",
            "rollback",
            "commits",
            "reason",
            "break_glass_reason",
            "changes",
            "actors",
            "skipped_gates",
            "since",
        ]
    ),
    _json_values,
    max_size=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=_payloads)
def test_no_payload_shape_breaks_changes_or_incidents(
    dashboard: Dashboard, payload: dict[str, Any]
) -> None:
    for kind in ("sync.applied", "breakglass", "drift.detected"):
        dashboard.store.append(
            NewEvent(
                kind=kind,
                actor="x",
                subject="ConfigMap/shop/fuzz",
                source="apps",
                commit="c" * 40,
                payload=payload,
            )
        )
    assert dashboard.get("/api/v1/changes?limit=1000").status_code == 200
    assert dashboard.get("/api/v1/incidents?limit=1000").status_code == 200


def test_checkpoints_deleted_from_the_database_are_caught_against_the_witness(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    witness = FolderWitness(tmp_path / "witness")
    for checkpoint in dashboard.store.checkpoints():
        witness.write(checkpoint)
    monitor = IntegrityMonitor(dashboard.store, dashboard.integrity.verifier, witness=witness)
    assert monitor.refresh(full=True).status == "verified"
    assert monitor.state.witness is not None and monitor.state.witness.last_seq == 8

    tamper(dashboard.store, "DELETE FROM audit_checkpoints")
    state = monitor.refresh(full=True)

    assert state.status == "tampered"
    assert "witness_missing" in {finding.problem for finding in state.findings}


def test_a_witness_that_holds_nothing_yet_leaves_the_chain_checked_and_says_why(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    class Unborn:
        location = "configmap:gatekeeper-system/gatekeeper-audit-witness"

        def read(self) -> object:
            raise WitnessError("no ConfigMap labelled gatekeeper.dev/audit-witness=x")

        def close(self) -> None:
            return None

    monitor = IntegrityMonitor(
        dashboard.store,
        dashboard.integrity.verifier,
        witness=Unborn(),  # type: ignore[arg-type]
    )
    state = monitor.refresh(full=True)
    assert state.status == "verified"
    assert "no ConfigMap labelled" in state.witness_problem


def test_a_log_that_cannot_be_read_back_is_tampered_not_left_verified(
    dashboard: Dashboard,
) -> None:
    assert dashboard.integrity.state.status == "verified"
    statements = ["UPDATE audit_events SET actor = 'nobody' WHERE seq = 3"]
    if dashboard.store.engine.dialect.name == "sqlite":
        # PostgreSQL's types refuse a time that is no time; SQLite keeps the text.
        statements.append("UPDATE audit_checkpoints SET time = 'garbage'")
    tamper(dashboard.store, *statements)
    # An unreadable checkpoint stops even the quick check; an edited record waits for the
    # full one (every ten minutes), which finds it either way.
    checks = (False, True) if len(statements) == 2 else (True,)
    for full in checks:
        state = dashboard.integrity.refresh(full=full)
        assert state.status == "tampered"
        assert not state.covers(1)


def test_a_checkpoint_made_over_records_already_checked_is_held_against_its_key(
    dashboard: Dashboard,
) -> None:
    dashboard.store.append(NewEvent(kind="sync.applied", actor="gatekeeper", source="apps"))
    assert dashboard.integrity.refresh().covered_upto == 8
    dashboard.store.checkpoint(Signer(Ed25519PrivateKey.generate()))  # another key
    state = dashboard.integrity.refresh()
    assert state.status == "tampered"
    assert not state.covers(9)


def test_a_filter_value_in_the_csv_preamble_can_never_become_a_formula_cell(
    dashboard: Dashboard,
) -> None:
    text = dashboard.get("/api/v1/events?format=csv&actor=x,=cmd|' /C calc'!A0,").text
    first = next(csv.reader(io.StringIO(text)))
    assert len(first) == 1 and first[0].startswith("# filters: ")


def test_a_second_token_of_one_user_keeps_its_own_verbs(tmp_path: Path) -> None:
    from gatekeeper.dashboard.auth import TokensFile, token_digest

    path = tmp_path / "tokens.yaml"
    path.write_text(
        f"- {{user: ci, verbs: [get, create], tokenSha256: {token_digest('writer')}}}\n"
        f"- {{user: ci, verbs: [get], tokenSha256: {token_digest('reader')}}}\n"
    )
    tokens = TokensFile.load(path)
    tokens.authorize(tokens.authenticate("writer"), "create")
    with pytest.raises(Forbidden):
        tokens.authorize(tokens.authenticate("reader"), "create")


@pytest.mark.parametrize(
    "query", ["limit=²", "after=eyJhIjogdHJ1ZX0", "limit=99999999999999999999"]
)
def test_odd_numbers_and_cursors_are_refused_not_crashed_on(
    dashboard: Dashboard, query: str
) -> None:
    assert dashboard.get(f"/api/v1/events?{query}").status_code == 400


def test_a_drift_detected_again_on_every_pass_is_one_incident_until_corrected(
    dashboard: Dashboard,
) -> None:
    subject = "apps/Deployment/bank/api"
    detections = [
        dashboard.store.append(
            NewEvent(kind="drift.detected", actor="gatekeeper", subject=subject, source="apps")
        ).seq
        for _ in range(3)
    ]
    dashboard.store.append(
        NewEvent(
            kind="drift.corrected",
            actor="gatekeeper",
            subject=subject,
            source="apps",
            payload={"detected_seq": detections[-1]},
        )
    )
    (incident,) = _json(dashboard.get("/api/v1/incidents?namespace=bank"))["items"]
    assert incident["detected"]["seq"] == detections[0]
    assert incident["open"] is False


def test_a_change_lists_only_the_reconcilers_admissions_of_that_sync(dashboard: Dashboard) -> None:
    commit = "a" * 40
    dashboard.store.append(
        NewEvent(
            kind="admission.denied",
            actor="alice",
            subject="apps/Deployment/shop/web",
            source="apps",
            commit=commit,
        )
    )
    (change,) = [c for c in _json(dashboard.get("/api/v1/changes?source=apps"))["items"]]
    assert [(a["seq"], a["actor"]) for a in change["admissions"]] == [(2, "reconciler")]


def test_the_openapi_document_is_served_to_signed_in_callers_only(dashboard: Dashboard) -> None:
    assert dashboard.get("/api/v1/openapi.json", token=None).status_code == 401
    document = _json(dashboard.get("/api/v1/openapi.json"))
    assert "/api/v1/events" in document["paths"]
    assert dashboard.get("/api/v1/docs", token=None).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/events?since=0001-01-01T00:00:00%2B01:00", None),
        ("GET", "/api/v1/events?until=9999-12-31T23:59:59-01:00", None),
        ("GET", "/api/v1/changes?since=0001-01-01T00:00:00%2B01:00", None),
        ("GET", "/events?since=0001-01-01T00:00:00%2B01:00", None),
        ("POST", "/api/v1/reports", {"since": "0001-01-01T00:00:00+01:00"}),
    ],
)
def test_a_date_with_no_utc_time_is_a_400_naming_it(
    dashboard: Dashboard, method: str, path: str, body: object
) -> None:
    answer = served_answer(
        dashboard, method, path, json=body, headers={"Authorization": f"Bearer {MAKER}"}
    )
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert "outside the calendar" in answer.text


@pytest.mark.parametrize(
    "path", ["/", "/events", "/events/3", "/changes", "/reports", "/login", "/api/v1/events"]
)
def test_pages_and_the_api_are_never_stored_by_caches(dashboard: Dashboard, path: str) -> None:
    answer = dashboard.get(path)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"


def test_the_stylesheet_may_be_cached(dashboard: Dashboard) -> None:
    answer = dashboard.client.get("/static/style.css")
    assert answer.status_code == 200
    assert "no-store" not in answer.headers.get("cache-control", "")


def test_the_sign_in_page_shows_no_text_from_its_link(dashboard: Dashboard) -> None:
    lure = "Token expired. Paste it at https://evil.example/renew instead."
    answer = dashboard.client.get("/login", params={"error": lure, "next": "/events"})
    assert answer.status_code == 200
    assert "evil.example" not in answer.text and 'role="alert"' not in answer.text
    refused = dashboard.client.request(
        "POST",
        "/login",
        data={"token": "wrong", "next": "/events"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert refused.status_code == 401
    assert 'role="alert"' in refused.text
