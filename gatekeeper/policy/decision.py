"""The decision model: every message with the policy it came from and its enforcement action."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Action = Literal["deny", "warn", "dryrun"]
RuleKind = Literal["deny", "warn", "violation"]
ACTIONS: tuple[Action, ...] = get_args(Action)
_SEVERITY: Mapping[str, int] = {"dryrun": 0, "warn": 1, "deny": 2}


def parse_action(value: object, *, where: str) -> Action:
    """An enforcement action from a file, refused unless it is one of deny, warn, dryrun."""
    if isinstance(value, str) and value.lower() in ACTIONS:
        return value.lower()  # type: ignore[return-value]
    raise ValueError(f"{where}: enforcement action {value!r} is not one of {', '.join(ACTIONS)}")


def weaker_action(first: Action, second: Action) -> Action:
    """The less severe of two actions: a `warn` rule in a `dryrun` policy stays a dry run."""
    return first if _SEVERITY[first] <= _SEVERITY[second] else second


@dataclass(frozen=True, kw_only=True)
class Message:
    """One message a policy produced for one object."""

    policy: str
    action: Action
    rule: RuleKind
    msg: str
    details: Any = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "policy": self.policy,
            "action": self.action,
            "rule": self.rule,
            "msg": self.msg,
        }
        if self.details is not None:
            data["details"] = self.details
        return data


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The outcome of evaluating a policy set on one input.

    `allowed` is false only when a message with action `deny` exists; `warn` and `dryrun`
    messages are reported and recorded but never block.
    """

    messages: tuple[Message, ...] = ()
    engine: str = field(default="", compare=False)
    policies_evaluated: int = 0
    subject: str = field(default="", compare=False)

    @classmethod
    def of(cls, messages: Iterable[Message], **kwargs: Any) -> Decision:
        """A decision with its messages in a stable order (policy, action, message)."""
        ordered = sorted(messages, key=lambda m: (m.policy, m.rule, m.msg, repr(m.details)))
        return cls(messages=tuple(ordered), **kwargs)

    @property
    def allowed(self) -> bool:
        return not any(message.action == "deny" for message in self.messages)

    @property
    def denials(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.action == "deny")

    @property
    def warnings(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.action == "warn")

    @property
    def dry_runs(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.action == "dryrun")

    def summary(self) -> str:
        """One line for logs and admission responses: the denial messages, or `allowed`."""
        if self.allowed:
            return "allowed"
        return "; ".join(f"[{m.policy}] {m.msg}" for m in self.denials)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "engine": self.engine,
            "subject": self.subject,
            "policies_evaluated": self.policies_evaluated,
            "messages": [message.to_dict() for message in self.messages],
        }
