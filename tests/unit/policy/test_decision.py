from __future__ import annotations

import pytest

from gatekeeper.policy.decision import (
    Decision,
    Message,
    parse_action,
    weaker_action,
)


def message(action: str, msg: str = "m", policy: str = "p") -> Message:
    return Message(policy=policy, action=action, rule="deny", msg=msg)  # type: ignore[arg-type]


def test_a_decision_without_messages_is_allowed() -> None:
    assert Decision().allowed


def test_warn_and_dryrun_messages_never_block() -> None:
    decision = Decision.of([message("warn"), message("dryrun")])
    assert decision.allowed
    assert [m.action for m in decision.warnings] == ["warn"]
    assert [m.action for m in decision.dry_runs] == ["dryrun"]


def test_one_deny_message_blocks() -> None:
    decision = Decision.of([message("warn"), message("deny", "no")])
    assert not decision.allowed
    assert decision.summary() == "[p] no"


def test_messages_are_ordered_by_policy_then_text() -> None:
    decision = Decision.of(
        [message("deny", "b", "z"), message("deny", "b", "a"), message("deny", "a", "z")]
    )
    assert [(m.policy, m.msg) for m in decision.messages] == [("a", "b"), ("z", "a"), ("z", "b")]


def test_the_dictionary_form_lists_every_message_with_its_policy() -> None:
    decision = Decision.of([message("deny", "no", "lib.x")], engine="regorus", subject="Pod/a")
    assert decision.to_dict() == {
        "allowed": False,
        "engine": "regorus",
        "subject": "Pod/a",
        "policies_evaluated": 0,
        "messages": [{"policy": "lib.x", "action": "deny", "rule": "deny", "msg": "no"}],
    }


def test_decisions_compare_by_messages_not_by_engine() -> None:
    assert Decision.of([message("deny")], engine="opa") == Decision.of(
        [message("deny")], engine="regorus"
    )


@pytest.mark.parametrize("text", ["deny", "WARN", "dryrun"])
def test_known_actions_parse(text: str) -> None:
    assert parse_action(text, where="x") == text.lower()


@pytest.mark.parametrize("text", ["block", "", None, 1])
def test_unknown_actions_are_refused_with_where_they_came_from(text: object) -> None:
    with pytest.raises(ValueError, match=r"policy\.rego"):
        parse_action(text, where="policy.rego")


def test_the_weaker_action_wins() -> None:
    assert weaker_action("deny", "warn") == "warn"
    assert weaker_action("warn", "dryrun") == "dryrun"
    assert weaker_action("deny", "deny") == "deny"
