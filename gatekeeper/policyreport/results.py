"""From audit records to policy results: which results of which object a record replaces.
Pure: a record in, changes out.

A result is kept per (object, policy, phase). A record replaces every result of its object
in its phase: a sync that applied an object says how the commit's objects fared at sync
time (a warning, a dry-run finding, or a pass of the whole policy set), a `policy.denied`
which policies refused the object in a rejected commit, and an admission decision what the
webhook found in the last change to it. A pruned or deleted object loses its results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from gatekeeper.audit.events import Record
from gatekeeper.kube.objects import ObjectKey

Outcome = Literal["pass", "fail", "warn"]
Phase = Literal["sync", "admission"]
PHASES: Final[tuple[Phase, ...]] = ("sync", "admission")
POLICY_SET: Final = "policy-set"
PROVENANCE: Final = "git-provenance"
MESSAGE_LIMIT: Final = 500
_OUTCOMES: Final[Mapping[str, Outcome]] = {"deny": "fail", "warn": "warn", "dryrun": "fail"}
_STRICTNESS: Final = ("deny", "dryrun", "warn")
_SKIPPED_KINDS: Final = frozenset({("", "Event"), ("events.k8s.io", "Event")})


@dataclass(frozen=True)
class Result:
    """One policy's verdict on one object in one phase."""

    object: str
    policy: str
    phase: Phase
    outcome: Outcome
    message: str
    seq: int
    time: datetime
    action: str = ""
    commit: str = ""
    source: str = ""
    api_version: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.object, self.policy, self.phase)


@dataclass(frozen=True)
class Change:
    """Replace the results of `object` in `phases` by `results` (none: remove them)."""

    object: ObjectKey
    phases: tuple[Phase, ...]
    results: tuple[Result, ...] = ()
    api_versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """The report it belongs in: the object's namespace, "" for the cluster's."""
        return self.object.namespace


def changes(record: Record) -> list[Change]:
    """What `record` changes in the reports (nothing for most kinds)."""
    if record.kind == "sync.applied":
        return _sync_applied(record)
    if record.kind == "policy.denied":
        return _policy_denied(record)
    if record.kind in ("admission.allowed", "admission.denied", "breakglass"):
        return _admission(record)
    if record.kind == "sync.pruned":
        key = ObjectKey.parse(record.subject)
        return [] if key is None else [Change(key, PHASES)]
    return []


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _grouped(
    record: Record,
    key: ObjectKey,
    phase: Phase,
    findings: Iterable[tuple[str, str, str]],
    api_version: str = "",
) -> tuple[Result, ...]:
    """One result per policy: (policy, action, message) findings joined by policy, the
    strictest action deciding its outcome."""
    by_policy: dict[str, tuple[str, list[str]]] = {}
    for policy, action, message in findings:
        old_action, messages = by_policy.get(policy, (action, []))
        strongest = min(old_action, action, key=_STRICTNESS.index)
        by_policy[policy] = (strongest, [*messages, message])
    return tuple(
        Result(
            object=str(key),
            policy=policy,
            phase=phase,
            outcome=_OUTCOMES[action],
            message=_clip("; ".join(sorted(set(messages)))),
            seq=record.seq,
            time=record.time,
            action=action,
            commit=record.commit or "",
            source=record.source or "",
            api_version=api_version,
        )
        for policy, (action, messages) in sorted(by_policy.items())
    )


def _sync_applied(record: Record) -> list[Change]:
    payload = record.payload
    results = payload.get("policy_results")
    if not isinstance(results, Mapping):
        return []  # the policies were skipped: nothing is known of them
    versions = _versions(payload.get("kinds") or [])
    findings: dict[str, list[tuple[str, str, str]]] = {}
    for message in results.get("messages") or []:
        if not isinstance(message, Mapping) or message.get("action") not in ("warn", "dryrun"):
            continue
        findings.setdefault(str(message.get("object")), []).append(
            (str(message.get("policy")), str(message["action"]), str(message.get("message")))
        )
    version = str(payload.get("policy_set_version") or "")
    found: list[Change] = []
    for entry in payload.get("objects") or []:
        key = ObjectKey.parse(str((entry or {}).get("object", "")))
        if key is None or (key.api_group, key.kind) in _SKIPPED_KINDS:
            continue
        api_version = versions.get((key.api_group, key.kind), "")
        results_ = _grouped(record, key, "sync", findings.get(str(key), ()), api_version)
        if not results_:
            results_ = (
                Result(
                    object=str(key),
                    policy=POLICY_SET,
                    phase="sync",
                    outcome="pass",
                    message=f"passed every policy of set {version}".strip(),
                    seq=record.seq,
                    time=record.time,
                    commit=record.commit or "",
                    source=record.source or "",
                    api_version=api_version,
                ),
            )
        found.append(Change(key, ("sync",), results_))
    return found


def _versions(kinds: Iterable[Any]) -> dict[tuple[str, str], str]:
    """(group, kind) -> apiVersion from a sync's `kinds` (`apps/v1|Deployment`)."""
    found = {}
    for entry in kinds:
        api_version, _, kind = str(entry).partition("|")
        found[(api_version.rpartition("/")[0], kind)] = api_version
    return found


def _policy_denied(record: Record) -> list[Change]:
    key = ObjectKey.parse(record.subject)
    if key is None:
        return []
    findings = [
        (str(m.get("policy")), "deny", str(m.get("msg") or m.get("message") or ""))
        for m in record.payload.get("messages") or []
        if isinstance(m, Mapping)
    ]
    return [Change(key, ("sync",), _grouped(record, key, "sync", findings))]


def _admission(record: Record) -> list[Change]:
    payload = record.payload
    key = ObjectKey.parse(record.subject)
    if key is None or payload.get("dry_run") or (key.api_group, key.kind) in _SKIPPED_KINDS:
        return []
    if payload.get("operation") == "DELETE" and record.kind != "admission.denied":
        return [Change(key, PHASES)]
    findings = [
        (str(p.get("policy")), str(p.get("action") or "deny"), str(p.get("message") or ""))
        for p in payload.get("policies") or []
        if isinstance(p, Mapping) and p.get("action", "deny") in _OUTCOMES
    ]
    if record.kind == "admission.denied" and not any(f[1] == "deny" for f in findings):
        # Refused for not coming from Git, not by a policy: the provenance check's result.
        reasons = "; ".join(str(r) for r in payload.get("reasons") or []) or "refused"
        findings.append((PROVENANCE, "deny", reasons))
    core = "v1" if key.api_group == "" else ""
    return [Change(key, ("admission",), _grouped(record, key, "admission", findings, core))]
