"""A Verdict: what the webhook decided about one request, why, and how it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatekeeper.admission.ports import PolicyFinding, ProvenanceFacts
from gatekeeper.admission.wire import AdmissionRequest, AdmissionResponse
from gatekeeper.audit import events

# Keys of auditAnnotations; the API server prefixes them with the webhook's name.
AUDIT_SEQ_KEY = "audit-seq"
AUDIT_COMMIT_KEY = "commit"
AUDIT_DECISION_KEY = "decision"
# What an audit record keeps of the policies' findings: an object that breaks a policy
# thousands of times (a dry run is enough) must not grow the append-only log by megabytes.
RECORDED_FINDINGS = 100
RECORDED_MESSAGE_CHARACTERS = 2048


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The decision on one request. Allowed unless a check refused it."""

    allowed: bool = True
    event_kind: str = events.ADMISSION_ALLOWED
    subject: str = ""
    reasons: tuple[str, ...] = ()
    message: str = ""
    warnings: tuple[str, ...] = ()
    findings: tuple[PolicyFinding, ...] = ()
    provenance: ProvenanceFacts | None = None
    break_glass_reason: str = ""
    managed: bool = False
    policy_version: str = ""

    @property
    def commit(self) -> str:
        return self.provenance.commit if self.provenance else ""

    @property
    def source(self) -> str:
        return self.provenance.source if self.provenance else ""

    def response(self, uid: str, *, audit_seq: int | None) -> AdmissionResponse:
        """The AdmissionResponse; `audit_seq` is the recorded event's sequence number."""
        response: AdmissionResponse = {"uid": uid, "allowed": self.allowed}
        if not self.allowed:
            response["status"] = {"code": 403, "reason": "Forbidden", "message": self.message}
        if self.warnings:
            response["warnings"] = list(self.warnings)
        annotations = {AUDIT_DECISION_KEY: self.event_kind}
        if audit_seq is not None:
            annotations[AUDIT_SEQ_KEY] = str(audit_seq)
        if self.commit:
            annotations[AUDIT_COMMIT_KEY] = self.commit
        response["auditAnnotations"] = annotations
        return response

    def event(self, request: AdmissionRequest) -> events.NewEvent:
        """The audit event recording this decision."""
        user = request["userInfo"]
        payload: dict[str, Any] = {
            "uid": request["uid"],
            "user": user["username"],
            "groups": list(user["groups"]),
            "operation": request["operation"],
            "resource": request["resource"]["resource"],
            "subresource": request["subResource"],
            "object": self.subject,
            "decision": "allowed" if self.allowed else "denied",
            "reasons": list(self.reasons),
            "policy_set_version": self.policy_version,
            "dry_run": request["dryRun"],
            "managed": self.managed,
        }
        if self.findings:
            payload.update(_recorded_findings(self.findings))
        if self.warnings:
            payload["warnings"] = list(self.warnings)
        if self.break_glass_reason:
            payload["break_glass_reason"] = self.break_glass_reason
        if self.provenance and self.provenance.path:
            payload["path"] = self.provenance.path
        return events.NewEvent(
            kind=self.event_kind,
            # Column limits of the store; annotations are user input and may be longer.
            actor=(user["username"] or "(anonymous)")[:256],
            subject=self.subject[:512],
            source=self.source[:128] or None,
            commit=self.commit[:64] or None,
            payload=payload,
        )


def _recorded_findings(findings: tuple[PolicyFinding, ...]) -> dict[str, Any]:
    """`policies`: the first findings, messages cut to a bounded length; then
    `policies_omitted`: how many findings of each policy were left out, if any."""
    limit = RECORDED_MESSAGE_CHARACTERS
    recorded: dict[str, Any] = {
        "policies": [
            {
                "policy": f.policy,
                "action": f.action,
                "message": shorten(f.message, limit),
            }
            for f in findings[:RECORDED_FINDINGS]
        ]
    }
    omitted: dict[str, int] = {}
    for f in findings[RECORDED_FINDINGS:]:
        omitted[f.policy] = omitted.get(f.policy, 0) + 1
    if omitted:
        recorded["policies_omitted"] = omitted
    return recorded


def shorten(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many were left out: one form for the
    answer and the audit record."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
