"""Framework controls an auditor tests, each mapped to the records that evidence it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """One query whose answer shows the control operating."""

    description: str
    endpoint: str
    params: tuple[tuple[str, str], ...] = ()

    def path(self) -> str:
        """The API query that answers it."""
        return f"/api/v1/{self.endpoint}" + self._query()

    def page(self) -> str:
        """Where the web page shows the same answer."""
        if self.endpoint in _PAGES:
            return f"/{self.endpoint}" + self._query()
        return "/" if self.endpoint == "integrity" else self.path()

    def _query(self) -> str:
        query = "&".join(f"{key}={value}" for key, value in self.params)
        return f"?{query}" if query else ""


_PAGES = frozenset({"events", "changes", "incidents", "rollbacks"})


@dataclass(frozen=True)
class Control:
    framework: str
    id: str
    title: str
    how: str
    evidence: tuple[Evidence, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "id": self.id,
            "title": self.title,
            "how": self.how,
            "evidence": [
                {"description": item.description, "query": item.path(), "page": item.page()}
                for item in self.evidence
            ],
        }


_CHANGES = Evidence(
    "Every change applied, with its commits, signers and the rule each signer met", "changes"
)
_REFUSED_SYNC = Evidence(
    "Commits refused before they reached the cluster (unsigned, untrusted, policy)",
    "events",
    (("kind", "sync.rejected,policy.denied"),),
)
_REFUSED_ADMISSION = Evidence(
    "Changes refused at the API server's door", "events", (("kind", "admission.denied"),)
)
_INCIDENTS = Evidence(
    "Break-glass exceptions, the drift they caused and its correction", "incidents"
)
_ROLLBACKS = Evidence("Rollbacks and why they were made", "rollbacks")
_INTEGRITY = Evidence("Hash chain and signed checkpoints of the log itself", "integrity")
_SAMPLE = Evidence("A reproducible sample of changes for testing", "sample", (("n", "25"),))
_REPORTS = Evidence("Who made which report or bundle", "events", (("kind", "report.generated"),))

CONTROLS: tuple[Control, ...] = (
    Control(
        "SOC 2",
        "CC8.1",
        "Changes are authorised, tested, approved and implemented under control",
        "Only commits signed by a trusted signer allowed on the paths they touch are applied, "
        "after the policies pass; two-person rules are enforced with minSigners.",
        (_CHANGES, _REFUSED_SYNC, _SAMPLE),
    ),
    Control(
        "ISO/IEC 27001:2022",
        "A.8.32",
        "Change management",
        "Every change to managed objects goes through Git review and signature; changes made "
        "around it are refused at admission or recorded as break-glass and corrected as drift.",
        (_CHANGES, _REFUSED_ADMISSION, _INCIDENTS),
    ),
    Control(
        "PCI DSS v4.0",
        "6.5",
        "Changes to system components are managed securely",
        "Each change carries its commit range, signers and policy results; rollbacks are "
        "recorded with their reason and the commit returned to.",
        (_CHANGES, _ROLLBACKS, _SAMPLE),
    ),
    Control(
        "PCI DSS v4.0",
        "10.2",
        "Audit logs capture user activity and changes",
        "Every sync, admission decision, break-glass use, drift and rollback is a record with "
        "actor, subject, time and details.",
        (
            Evidence("The full record of a period", "events"),
            _REFUSED_ADMISSION,
            _INCIDENTS,
        ),
    ),
    Control(
        "PCI DSS v4.0",
        "10.3",
        "Audit logs are protected from destruction and unauthorised change",
        "The database refuses UPDATE and DELETE; a SHA-256 chain links every record; Ed25519 "
        "checkpoints signed with a key kept outside the database vouch for it.",
        (_INTEGRITY, _REPORTS),
    ),
    Control(
        "NIST SP 800-53 Rev. 5",
        "CM-3",
        "Configuration change control",
        "Changes are approved by signature in Git, checked against policy, applied by one "
        "identity, and each is traceable from commit to cluster.",
        (_CHANGES, _REFUSED_SYNC, _ROLLBACKS),
    ),
    Control(
        "NIST SP 800-53 Rev. 5",
        "CM-5",
        "Access restrictions for change",
        "The admission webhook lets only the reconciler change managed objects; everyone else "
        "is refused, except break-glass, which is recorded.",
        (_REFUSED_ADMISSION, _INCIDENTS),
    ),
    Control(
        "NIST SP 800-53 Rev. 5",
        "AU-9",
        "Protection of audit information",
        "Append-only tables, the hash chain and signed checkpoints; verification names the "
        "first altered record.",
        (_INTEGRITY,),
    ),
    Control(
        "NIST SP 800-53 Rev. 5",
        "AU-10",
        "Non-repudiation",
        "Changes trace to a cryptographic commit signature (OpenPGP, SSH) of a named signer; "
        "reports and evidence bundles are signed.",
        (_CHANGES, _REPORTS),
    ),
)
