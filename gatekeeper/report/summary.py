"""Report lines: a short human explanation from whatever a record's payload carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SUMMARY_KEYS = ("reason", "reasons", "message", "messages", "detail", "error", "diff_summary")


def summarise(payload: Mapping[str, Any], limit: int = 300) -> str:
    """A short human line from whatever explanation a payload carries."""
    parts: list[str] = _facts(payload)
    for key in _SUMMARY_KEYS:
        value = payload.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list | tuple):
            parts.extend(_text(item) for item in value)
        else:
            parts.append(_text(value))
    text = "; ".join(part for part in parts if part)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(payload: Mapping[str, Any]) -> list[str]:
    """What a sync or drift record did, for records that carry no message of their own."""
    facts: list[str] = []
    changed = payload.get("changed")
    applied = payload.get("applied")
    if isinstance(changed, list):
        # Records that name what really changed say so, and who signed each commit.
        names = [str(item.get("object")) for item in changed if isinstance(item, Mapping)]
        unchanged = payload.get("unchanged")
        facts.append(
            (f"changed {', '.join(names)}" if names else "changed nothing")
            + (f" ({unchanged} unchanged)" if isinstance(unchanged, int) and unchanged else "")
            + _signers(payload)
        )
    elif isinstance(applied, list) and applied:
        signer = payload.get("signer")
        facts.append(
            f"applied {len(applied)} object(s)" + (f", signed by {signer}" if signer else "")
        )
    reason = payload.get("break_glass_reason")
    if isinstance(reason, str) and reason:
        facts.append(f"break-glass: {reason}")
    rollback = payload.get("rollback_of")
    if isinstance(rollback, Mapping):
        facts.append(f"rollback to {str(rollback.get('to'))[:12]}: {rollback.get('reason')}")
    diff = payload.get("diff")
    if isinstance(diff, list) and diff:
        changes = [
            f"{item.get('path')}: {item.get('desired')!r} in Git, {item.get('live')!r} live"
            for item in diff
            if isinstance(item, Mapping)
        ]
        facts.append("; ".join(changes))
    people = payload.get("admitted_changes")
    managers = payload.get("changed_by")
    if isinstance(people, list) and people:
        # The webhook's records name the users; they say more than the field managers.
        facts.append(
            "changed by " + ", ".join(_person(p) for p in people if isinstance(p, Mapping))
        )
    elif isinstance(managers, list) and managers:
        names = sorted({str(m.get("manager")) for m in managers if isinstance(m, Mapping)})
        facts.append("changed by " + ", ".join(names))
    if payload.get("missing") is True:
        facts.append("object deleted from the cluster")
    version, previous = payload.get("version"), payload.get("previous_version")
    if isinstance(version, str) and isinstance(previous, str):
        where = payload.get("component")
        facts.append(
            f"policy set {_short(version)} replaced {_short(previous)}"
            + (f" in the {where}" if where else "")
        )
    return facts


def _signers(payload: Mapping[str, Any]) -> str:
    """`; commits signed by alice, bob (2 of 2 needed)`, from the range the record names."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits:
        signer = payload.get("signer")
        return f", signed by {signer}" if signer else ""
    names = sorted({str(c.get("signer")) for c in commits if isinstance(c, Mapping)})
    text = f"; {len(commits)} commit(s) signed by {', '.join(names)}"
    rules = payload.get("rules")
    if isinstance(rules, list):
        needs = [
            f"{len(r.get('signers_met') or [])} of {r.get('min_signers')} signers on "
            f"{', '.join(map(str, r.get('paths') or []))}"
            for r in rules
            if isinstance(r, Mapping)
            and isinstance(r.get("min_signers"), int)
            and r["min_signers"] > 1
        ]
        if needs:
            text += " (" + "; ".join(needs) + ")"
    return text


def _person(change: Mapping[str, Any]) -> str:
    """`breakglass (breakglass: INC-9)`: who, and under what decision and reason."""
    reason = change.get("reason")
    decision = change.get("decision")
    detail = f"{decision}: {reason}" if reason else str(decision or "")
    return f"{change.get('user')} ({detail})" if detail else str(change.get("user"))


def _short(version: str) -> str:
    return version[:19]  # "sha256:" and 12 hex digits


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("msg", "message", "reason", "detail"):
            if key in value:
                return str(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
