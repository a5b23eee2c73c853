"""One PolicyReport (or the ClusterPolicyReport) as results keyed by object, policy and
phase: changes applied to it, its body built from it, and read back from its body. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from gatekeeper.kube.objects import ObjectKey
from gatekeeper.policyreport.results import Change, Result

API_VERSION: Final = "wgpolicyk8s.io/v1alpha2"
SOURCE: Final = "gitops-gatekeeper"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": SOURCE}
OUTCOMES: Final = ("pass", "fail", "warn", "error", "skip")


class ReportState:
    """The results of one scope (a namespace, or "" for the cluster)."""

    def __init__(self, scope: str, *, max_results: int) -> None:
        self.scope = scope
        self._max = max_results
        self.results: dict[tuple[str, str, str], Result] = {}

    def apply(self, change: Change) -> bool:
        """Replace the object's results in the change's phases; True when anything moved."""
        name = str(change.object)
        old = {k: r for k, r in self.results.items() if k[0] == name and r.phase in change.phases}
        new = {result.key: result for result in change.results}
        if old == new:
            return False
        for key in old:
            del self.results[key]
        self.results.update(new)
        self._prune()
        return True

    def _prune(self) -> None:
        """Keep the newest `max_results`: the oldest findings make way."""
        excess = len(self.results) - self._max
        if excess > 0:
            oldest = sorted(self.results.values(), key=lambda r: (r.seq, r.policy))[:excess]
            for result in oldest:
                del self.results[result.key]

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for result in self.results.values():
            counts[result.outcome] += 1
        return counts

    def body(self, name: str, *, resource_version: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY)}
        if self.scope:
            metadata["namespace"] = self.scope
        if resource_version:
            metadata["resourceVersion"] = resource_version
        ordered = sorted(self.results.values(), key=lambda r: (r.object, r.phase, r.policy))
        return {
            "apiVersion": API_VERSION,
            "kind": "PolicyReport" if self.scope else "ClusterPolicyReport",
            "metadata": metadata,
            "summary": self.summary(),
            "results": [result_entry(result) for result in ordered],
        }

    def load(self, body: Mapping[str, Any]) -> None:
        """Take the results a report written before holds (after a restart)."""
        self.results = {}
        for entry in body.get("results") or []:
            result = parse_entry(entry)
            if result is not None:
                self.results[result.key] = result


def result_entry(result: Result) -> dict[str, Any]:
    key = ObjectKey.parse(result.object)
    resource: dict[str, str] = {}
    if key is not None:
        if result.api_version:
            resource["apiVersion"] = result.api_version
        resource |= {"kind": key.kind, "name": key.name}
        if key.namespace:
            resource["namespace"] = key.namespace
    properties = {"object": result.object, "phase": result.phase, "auditSeq": str(result.seq)}
    for name, value in (
        ("action", result.action),
        ("commit", result.commit),
        ("gitSource", result.source),
    ):
        if value:
            properties[name] = value
    moment = result.time.astimezone(UTC)
    return {
        "source": SOURCE,
        "policy": result.policy,
        "rule": result.phase,
        "result": result.outcome,
        "scored": True,
        "message": result.message,
        "timestamp": {"seconds": int(moment.timestamp()), "nanos": moment.microsecond * 1000},
        "resources": [resource] if resource else [],
        "properties": properties,
    }


def parse_entry(entry: Any) -> Result | None:
    """A result written by `result_entry`; None for anything else (another writer's)."""
    if not isinstance(entry, Mapping) or entry.get("source") != SOURCE:
        return None
    properties = entry.get("properties") or {}
    phase = properties.get("phase")
    outcome = entry.get("result")
    stamp = entry.get("timestamp") or {}
    if phase not in ("sync", "admission") or outcome not in ("pass", "fail", "warn"):
        return None
    try:
        seq = int(properties.get("auditSeq", 0))
        moment = datetime.fromtimestamp(
            int(stamp.get("seconds", 0)) + int(stamp.get("nanos", 0)) / 1e9, UTC
        )
    except (TypeError, ValueError):
        return None
    resources = entry.get("resources") or [{}]
    return Result(
        object=str(properties.get("object", "")),
        policy=str(entry.get("policy", "")),
        phase=phase,
        outcome=outcome,
        message=str(entry.get("message", "")),
        seq=seq,
        time=moment,
        action=str(properties.get("action", "")),
        commit=str(properties.get("commit", "")),
        source=str(properties.get("gitSource", "")),
        api_version=str((resources[0] or {}).get("apiVersion", "")),
    )


def scopes(changes: Iterable[Change]) -> set[str]:
    return {change.scope for change in changes}
