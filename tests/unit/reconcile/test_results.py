"""The results of passes, and the records of a commit the gates refused."""

from __future__ import annotations

from gatekeeper.audit import events
from gatekeeper.reconcile import results
from tests.unit.reconcile.fakes import SOURCE

OLD = "1" * 40
NEW = "2" * 40


def test_a_rejection_records_sync_rejected_and_one_policy_denied_per_denied_object() -> None:
    reasons = [
        {
            "kind": "policy",
            "object": "ConfigMap/shop/b",
            "path": "b.yaml",
            "policy": "p",
            "message": "x",
        },
        {
            "kind": "policy",
            "object": "ConfigMap/shop/b",
            "path": "b.yaml",
            "policy": "q",
            "message": "y",
        },
        {"kind": "unknown_kind", "path": "c.yaml", "message": "z"},
    ]

    records = results.rejection(
        source=SOURCE, commit=NEW, since=OLD, reasons=reasons, actor="me", policy_set_version="v1"
    )

    assert [record.kind for record in records] == [events.SYNC_REJECTED, events.POLICY_DENIED]
    assert records[0].payload["kept"] == OLD
    assert records[0].payload["policy_set_version"] == "v1"
    assert [m["policy"] for m in records[1].payload["messages"]] == ["p", "q"]


def test_a_refused_target_reports_the_pass_on_the_synced_commit_with_its_reasons() -> None:
    kept = results.PassResult(SOURCE, "unchanged", OLD, drifted=2)
    reasons = [{"message": f"reason {n}"} for n in range(5)]

    result = results.rejected(SOURCE, NEW, reasons, kept=kept)

    assert (result.outcome, result.commit, result.drifted) == ("rejected", NEW, 2)
    assert result.message == "reason 0; reason 1; reason 2 (and 2 more)"
    assert results.rejected(SOURCE, NEW, [], kept=None).message == "nothing synced yet"


def test_a_pass_broken_off_is_recorded_as_failed_at_stage_pass() -> None:
    record, result = results.broken(SOURCE, OLD, actor="me", error="store unreachable")

    assert (record.kind, record.payload["stage"], record.commit) == (
        events.SYNC_FAILED,
        "pass",
        OLD,
    )
    assert (result.outcome, result.ok, result.message) == ("failed", False, "store unreachable")


def test_a_rendering_is_the_synced_one_only_when_every_digest_matches() -> None:
    same = {"ConfigMap/ns/a": "sha256:1", "ConfigMap/ns/b": "sha256:2"}
    assert results.rendering_changed("c" * 40, same, dict(same)) is None
    message = results.rendering_changed(
        "c" * 40,
        same,
        {"ConfigMap/ns/a": "sha256:9", "ConfigMap/other/b": "sha256:2"},
    )
    assert message is not None
    assert message.startswith(f"commit {'c' * 12} renders differently than when it was synced")
    assert "(ConfigMap/ns/a changed, ConfigMap/ns/b no longer rendered, ConfigMap/other/b new)" in (
        message
    )


def test_a_long_list_of_changes_is_cut_to_five() -> None:
    rendered = {f"ConfigMap/ns/{i}": "sha256:1" for i in range(8)}
    message = results.rendering_changed("c" * 40, {}, rendered)
    assert message is not None
    assert "ConfigMap/ns/4 new and 3 more)" in message
