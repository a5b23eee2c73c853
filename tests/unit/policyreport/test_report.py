"""From records to report results, and a report's state: replace, prune, round-trip."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.audit.events import Record
from gatekeeper.policyreport.report import ReportState, parse_entry, result_entry
from gatekeeper.policyreport.results import changes


def _record(kind: str, subject: str, payload: dict[str, Any], seq: int = 1) -> Record:
    return Record(
        seq=seq,
        time=datetime(2026, 12, 2, tzinfo=UTC),
        kind=kind,
        actor="a",
        subject=subject,
        source="apps",
        commit="c" * 40,
        payload=payload,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


def _applied(seq: int, *objects: str, messages: list[dict[str, Any]] | None = None) -> Record:
    return _record(
        "sync.applied",
        "source/apps",
        {
            "objects": [{"object": name} for name in objects],
            "kinds": ["apps/v1|Deployment", "v1|ConfigMap"],
            "policy_set_version": "sha256:ab",
            "policy_results": {"messages": messages or []},
        },
        seq,
    )


def test_a_sync_gives_each_object_its_findings_or_a_pass() -> None:
    found = changes(
        _applied(
            1,
            "apps/Deployment/shop/web",
            "ConfigMap/shop/cfg",
            messages=[
                {
                    "object": "apps/Deployment/shop/web",
                    "policy": "p",
                    "message": "m1",
                    "action": "warn",
                },
                {
                    "object": "apps/Deployment/shop/web",
                    "policy": "p",
                    "message": "m2",
                    "action": "dryrun",
                },
            ],
        )
    )
    web, cfg = found
    (finding,) = web.results
    assert (finding.outcome, finding.action, finding.message) == ("fail", "dryrun", "m1; m2")
    assert finding.api_version == "apps/v1"
    (passed,) = cfg.results
    assert (passed.policy, passed.outcome) == ("policy-set", "pass")


def test_a_sync_with_its_policies_skipped_changes_nothing() -> None:
    record = _record(
        "sync.applied",
        "source/apps",
        {"objects": [{"object": "ConfigMap/a/b"}], "policy_results": None},
    )
    assert changes(record) == []


def test_a_later_result_replaces_the_earlier_one_and_a_delete_removes_it() -> None:
    state = ReportState("shop", max_results=100)
    denied = _record(
        "admission.denied",
        "ConfigMap/shop/cfg",
        {"operation": "UPDATE", "reasons": ["not from Git"]},
        seq=1,
    )
    for change in changes(denied):
        assert state.apply(change)
    (result,) = state.results.values()
    assert (result.policy, result.outcome, result.phase) == ("git-provenance", "fail", "admission")
    allowed = _record("admission.allowed", "ConfigMap/shop/cfg", {"operation": "UPDATE"}, seq=2)
    for change in changes(allowed):
        assert state.apply(change)
    assert state.results == {}
    assert not any(state.apply(c) for c in changes(allowed))  # nothing moves twice
    dry = _record("admission.denied", "ConfigMap/shop/x", {"operation": "CREATE", "dry_run": True})
    assert changes(dry) == []


def test_pruned_objects_lose_every_result() -> None:
    state = ReportState("shop", max_results=100)
    for change in changes(_applied(1, "ConfigMap/shop/cfg")):
        state.apply(change)
    for change in changes(_record("sync.pruned", "ConfigMap/shop/cfg", {}, seq=2)):
        state.apply(change)
    assert state.results == {}


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=10))
def test_a_report_never_holds_more_than_its_bound_and_keeps_the_newest(
    objects: int, bound: int
) -> None:
    state = ReportState("shop", max_results=bound)
    for n in range(objects):
        for change in changes(_applied(n + 1, f"ConfigMap/shop/o{n}")):
            state.apply(change)
    assert len(state.results) == min(objects, bound)
    kept = sorted(result.seq for result in state.results.values())
    assert kept == list(range(objects - len(kept) + 1, objects + 1))
    body = state.body("gitops-gatekeeper", resource_version=None)
    assert body["summary"]["pass"] == len(kept)


def test_a_result_reads_back_as_it_was_written_and_foreign_ones_are_ignored() -> None:
    (change,) = changes(_applied(7, "apps/Deployment/shop/web"))
    (result,) = change.results
    assert parse_entry(result_entry(result)) == result
    assert parse_entry({"source": "kyverno", "policy": "x", "result": "fail"}) is None
