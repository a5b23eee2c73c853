"""Leader election on a coordination.k8s.io/v1 Lease, so that one replica applies at a time.

As client-go does, a replica never compares the holder's clock with its own: a lease held by
someone else counts as expired only after this replica has watched it stay unchanged for a
whole lease duration. Writes use the Lease's resourceVersion, so two replicas that try to
take it at once cannot both succeed. The leader stops acting once its last renewal is older
than the renew deadline, which is shorter than the duration the others wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict, KubeError
from gatekeeper.kube.objects import ResourceType
from gatekeeper.reconcile.errors import ReconcileError

LEASE: Final = ResourceType(
    group="coordination.k8s.io", version="v1", kind="Lease", plural="leases", namespaced=True
)


class LeaseError(ReconcileError):
    """The Lease cannot be used at all (no such namespace, no right to it)."""


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews one Lease for one identity."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration: float = 15.0,
        renew_deadline: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._duration = duration
        self._deadline = renew_deadline if renew_deadline is not None else duration * 2 / 3
        self._monotonic = monotonic
        self._renewed_at: float | None = None
        self._observed: tuple[str, str] | None = None
        self._observed_at = 0.0

    @property
    def duration(self) -> float:
        return self._duration

    def is_leader(self) -> bool:
        """True while the last successful renewal is within the renew deadline."""
        return self._renewed_at is not None and (
            self._monotonic() - self._renewed_at < self._deadline
        )

    def renew_if_due(self) -> bool:
        """Renew when a third of the duration has passed since the last renewal (long passes
        call this between steps); True while this replica leads."""
        if self._renewed_at is not None and (
            self._monotonic() - self._renewed_at < self._duration / 3
        ):
            return True
        return self.try_acquire()

    def try_acquire(self) -> bool:
        """Take or renew the Lease if this identity may; True when it leads afterwards."""
        try:
            return self._try_acquire()
        except Conflict:
            self._renewed_at = None
            return False
        except KubeError as exc:
            if exc.transient:
                # Unreachable API: keep leading only until the renew deadline passes.
                return self.is_leader()
            self._renewed_at = None
            raise LeaseError(
                f"cannot use Lease {self._namespace}/{self._name}: {exc}"
                + (" (does the namespace exist?)" if exc.status == 404 else "")
            ) from exc

    def _try_acquire(self) -> bool:
        now = self._monotonic()
        lease = self._kube.get(LEASE, self._name, self._namespace)
        if lease is None:
            self._kube.create(LEASE, self._lease_body(None, transitions=0, acquired=None))
            self._renewed_at = now
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed = record
            self._observed_at = now
        duration = float(spec.get("leaseDurationSeconds") or self._duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            self._renewed_at = None
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        if holder != self.identity:
            transitions += 1
        body = self._lease_body(lease, transitions=transitions, acquired=acquired)
        updated = self._kube.replace(LEASE, body)
        new_spec = updated.get("spec") or {}
        self._observed = (self.identity, str(new_spec.get("renewTime") or ""))
        self._observed_at = now
        self._renewed_at = now
        return True

    def _lease_body(
        self, lease: dict[str, Any] | None, *, transitions: int, acquired: Any
    ) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        metadata: dict[str, Any] = {"name": self._name, "namespace": self._namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self._duration)),
                "acquireTime": acquired or now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def release(self) -> None:
        """Give the Lease up at once (on a clean shutdown), so another replica takes over."""
        if not self.is_leader():
            return
        self._renewed_at = None
        try:
            lease = self._kube.get(LEASE, self._name, self._namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = {
                **lease["spec"],
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "renewTime": _micro_time(datetime.now(UTC)),
            }
            self._kube.replace(LEASE, lease)
        except KubeError:
            return
