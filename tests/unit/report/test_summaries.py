"""Report lines: short explanations from whatever a payload carries."""

from __future__ import annotations

from gatekeeper.report.summary import summarise
from gatekeeper.report.tabular import defuse as _defuse


def test_reasons_and_messages_are_joined() -> None:
    payload = {"reasons": ["unsigned commit", {"msg": "image uses :latest"}], "message": "denied"}
    assert summarise(payload) == "unsigned commit; image uses :latest; denied"


def test_payloads_without_explanations_give_an_empty_line() -> None:
    assert summarise({"objects": 3}) == ""


def test_long_summaries_are_cut() -> None:
    text = summarise({"reason": "x" * 1000}, limit=50)
    assert len(text) == 50 and text.endswith("…")


def test_spreadsheet_formulas_are_defused() -> None:
    assert _defuse("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _defuse("-1") == "'-1"
    assert _defuse("alice") == "alice"
    assert _defuse(None) == ""


def test_sync_records_say_what_was_applied_and_by_whose_signature() -> None:
    payload = {"applied": ["Namespace/shop", "apps/Deployment/shop/web"], "signer": "alice"}
    assert summarise(payload) == "applied 2 object(s), signed by alice"


def test_drift_records_say_what_differs_and_who_changed_it() -> None:
    payload = {
        "diff": [{"path": "spec.replicas", "desired": 2, "live": 5}],
        "changed_by": [{"manager": "kubectl-edit"}],
        "missing": False,
    }
    assert summarise(payload) == "spec.replicas: 2 in Git, 5 live; changed by kubectl-edit"
    assert summarise({"missing": True}) == "object deleted from the cluster"


def test_drift_records_name_the_people_the_webhook_let_change_the_object() -> None:
    payload = {
        "diff": [{"path": "spec.replicas", "desired": 1, "live": 3}],
        "changed_by": [{"manager": "OpenAPI-Generator"}],
        "admitted_changes": [
            {"user": "breakglass", "decision": "breakglass", "reason": "INC-9 rollback"}
        ],
    }
    assert summarise(payload) == (
        "spec.replicas: 1 in Git, 3 live; changed by breakglass (breakglass: INC-9 rollback)"
    )


def test_policy_reloads_say_which_set_replaced_which() -> None:
    payload = {
        "version": "sha256:" + "a" * 64,
        "previous_version": "sha256:" + "b" * 64,
        "component": "webhook",
        "policies": 19,
    }
    assert summarise(payload) == (
        "policy set sha256:aaaaaaaaaaaa replaced sha256:bbbbbbbbbbbb in the webhook"
    )
    assert summarise({"error": "label.rego:3: unexpected eof", "active_version": "x"}) == (
        "label.rego:3: unexpected eof"
    )


def test_a_sync_line_names_only_what_changed_and_who_signed_the_range() -> None:
    payload = {
        "applied": ["ConfigMap/shop/a", "apps/Deployment/shop/web", "Service/shop/web"],
        "changed": [{"object": "ConfigMap/shop/a", "digest_before": "x", "digest_after": "y"}],
        "unchanged": 2,
        "signer": "bob",
        "commits": [{"signer": "alice"}, {"signer": "bob"}],
        "rules": [
            {"paths": ["apps/payments/**"], "min_signers": 2, "signers_met": ["alice", "bob"]}
        ],
    }
    line = summarise(payload)
    assert line.startswith(
        "changed ConfigMap/shop/a (2 unchanged); 2 commit(s) signed by alice, bob"
    )
    assert "2 of 2 signers on apps/payments/**" in line
    assert "applied 3" not in line


def test_the_sync_a_rollback_causes_says_so() -> None:
    line = summarise({"changed": [], "rollback_of": {"to": "a" * 40, "reason": "bad release"}})
    assert "rollback to aaaaaaaaaaaa: bad release" in line


def test_a_break_glass_line_gives_its_reason() -> None:
    assert summarise({"break_glass_reason": "INC-7 → fix €"}) == "break-glass: INC-7 → fix €"
