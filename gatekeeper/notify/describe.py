"""What a record says, in a line a person reads: the title, the text, the Kubernetes Event
reason and type. Pure: a record in, words out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from gatekeeper.audit.events import Record

EventType = Literal["Normal", "Warning"]
TEXT_LIMIT: Final = 1000
_LISTED: Final = 3


@dataclass(frozen=True)
class Description:
    """A record told briefly."""

    title: str
    text: str
    reason: str
    type: EventType

    @property
    def warning(self) -> bool:
        return self.type == "Warning"


# Kubernetes Event reasons (UpperCamelCase, as the API's own) and types, per record kind.
REASONS: Final[Mapping[str, tuple[str, EventType]]] = {
    "sync.applied": ("Synced", "Normal"),
    "sync.rejected": ("SyncRejected", "Warning"),
    "sync.failed": ("SyncFailed", "Warning"),
    "sync.pruned": ("Pruned", "Normal"),
    "sync.healthy": ("Healthy", "Normal"),
    "sync.unhealthy": ("Unhealthy", "Warning"),
    "policy.denied": ("PolicyDenied", "Warning"),
    "policy.reloaded": ("PoliciesReloaded", "Normal"),
    "policy.reload_failed": ("PolicyReloadFailed", "Warning"),
    "admission.allowed": ("AdmissionAllowed", "Normal"),
    "admission.denied": ("AdmissionDenied", "Warning"),
    "breakglass": ("BreakGlass", "Warning"),
    "drift.detected": ("DriftDetected", "Warning"),
    "drift.corrected": ("DriftCorrected", "Normal"),
    "rollback": ("RolledBack", "Warning"),
    "notification.dropped": ("NotificationDropped", "Warning"),
}


def describe(record: Record) -> Description:
    """The record's title and text, and its Event reason and type."""
    reason, type_ = REASONS.get(record.kind) or (_camel(record.kind), "Normal")
    build = _TEXTS.get(record.kind, _generic)
    text = build(record, record.payload)
    return Description(
        title=f"{record.kind}: {record.subject or record.source or '-'}",
        text=_clip(text),
        reason=reason,
        type=type_,
    )


def _camel(kind: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in kind.replace("_", ".").split("."))


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(commit: str | None) -> str:
    return (commit or "-")[:12]


def _listed(items: Sequence[str], noun: str) -> str:
    shown = "; ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return shown + (f" (and {more} more {noun})" if more > 0 else "")


def _messages(items: Any, key: str = "message") -> list[str]:
    found = []
    for item in items or []:
        if isinstance(item, Mapping):
            text = str(item.get(key) or item.get("msg") or "")
            policy = item.get("policy")
            found.append(f"{policy}: {text}" if policy else text)
        else:
            found.append(str(item))
    return found


def _rejected(record: Record, payload: Mapping[str, Any]) -> str:
    reasons = _messages(payload.get("reasons"))
    return (
        f"commit {_short(record.commit)} of source {record.source} was rejected and not "
        f"applied: {_listed(reasons, 'reasons') or 'no reason given'}"
    )


def _failed(record: Record, payload: Mapping[str, Any]) -> str:
    return (
        f"sync of source {record.source} at commit {_short(record.commit)} failed "
        f"({payload.get('stage', '?')}): {payload.get('error', '')}"
    )


def _applied(record: Record, payload: Mapping[str, Any]) -> str:
    changed = payload.get("changed") or []
    warnings = payload.get("warnings") or []
    text = (
        f"commit {_short(record.commit)} of source {record.source} applied: "
        f"{len(payload.get('applied') or [])} objects, {len(changed)} changed"
    )
    return text + (f", {len(warnings)} policy warnings" if warnings else "")


def _drift(record: Record, payload: Mapping[str, Any]) -> str:
    obj = payload.get("object") or record.subject
    if payload.get("missing"):
        what = "was deleted"
    else:
        fields = [str(change.get("path")) for change in payload.get("diff") or []]
        what = f"changed {_listed(fields, 'fields')}" if fields else "changed"
    mode = "will be set back" if payload.get("mode") == "correct" else "is only reported"
    return f"{obj} {what} outside Git, by {record.actor}; it {mode} (source {record.source})"


def _corrected(record: Record, payload: Mapping[str, Any]) -> str:
    obj = payload.get("object") or record.subject
    return (
        f"{obj} set back to commit {_short(record.commit)} of source {record.source} "
        f"({payload.get('fields', 0)} fields)"
    )


def _rollback(record: Record, payload: Mapping[str, Any]) -> str:
    how = "automatically" if payload.get("automatic") else f"by {payload.get('requested_by')}"
    return (
        f"source {record.source} rolled back {how} from {_short(payload.get('from'))} to "
        f"{_short(payload.get('to'))}: {payload.get('reason', '')}"
    )


def _breakglass(record: Record, payload: Mapping[str, Any]) -> str:
    return (
        f"{payload.get('user') or record.actor} made a {payload.get('operation', 'change')} "
        f"of {record.subject} under break-glass: {payload.get('break_glass_reason', '')}"
    )


def _denied(record: Record, payload: Mapping[str, Any]) -> str:
    reasons = [str(reason) for reason in payload.get("reasons") or []]
    reasons += _messages([p for p in payload.get("policies") or [] if isinstance(p, Mapping)])
    return (
        f"{payload.get('user') or record.actor} was refused a "
        f"{payload.get('operation', 'change')} of {record.subject}: "
        f"{_listed(reasons, 'reasons') or 'no reason given'}"
    )


def _policy_denied(record: Record, payload: Mapping[str, Any]) -> str:
    messages = _messages(payload.get("messages"), key="msg")
    return (
        f"{record.subject} at commit {_short(record.commit)} of source {record.source} broke "
        f"policies: {_listed(messages, 'messages')}"
    )


def _health(record: Record, payload: Mapping[str, Any]) -> str:
    unhealthy = [
        f"{item.get('object')}: {item.get('status')} {item.get('message', '')}".strip()
        for item in payload.get("unhealthy") or []
        if isinstance(item, Mapping)
    ]
    state = payload.get("status", "?")
    text = f"source {record.source} at commit {_short(record.commit)} is {state}"
    return text + (f": {_listed(unhealthy, 'objects')}" if unhealthy else "")


def _reload_failed(record: Record, payload: Mapping[str, Any]) -> str:
    return (
        f"the {payload.get('component', '?')} could not load its changed policies and keeps "
        f"the previous set: {payload.get('error', '')}"
    )


def _dropped(record: Record, payload: Mapping[str, Any]) -> str:
    return (
        f"record #{payload.get('seq')} ({payload.get('kind')}) was not delivered to "
        f"{payload.get('target')} after {payload.get('attempts')} tries: {payload.get('error')}"
    )


def _generic(record: Record, payload: Mapping[str, Any]) -> str:
    parts = [f"{record.kind} by {record.actor}"]
    if record.subject:
        parts.append(f"on {record.subject}")
    if record.source:
        parts.append(f"(source {record.source}, commit {_short(record.commit)})")
    return " ".join(parts)


_TEXTS: Final[Mapping[str, Callable[[Record, Mapping[str, Any]], str]]] = {
    "sync.rejected": _rejected,
    "sync.failed": _failed,
    "sync.applied": _applied,
    "drift.detected": _drift,
    "drift.corrected": _corrected,
    "rollback": _rollback,
    "breakglass": _breakglass,
    "admission.denied": _denied,
    "policy.denied": _policy_denied,
    "sync.healthy": _health,
    "sync.unhealthy": _health,
    "policy.reload_failed": _reload_failed,
    "notification.dropped": _dropped,
}
