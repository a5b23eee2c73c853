"""Applies desired objects to the cluster: tiers in parallel with retries, drift, prunes.

Each step returns or appends the audit records it owes; the caller writes them in one go.
Before each tier and each deletion it asks `check_leader`, which raises to stop a replica
that no longer holds the Lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

from gatekeeper.audit.events import NewEvent
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import KubeError, UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.reconcile import drift, journal, planner
from gatekeeper.reconcile.errors import ApplyFailed
from gatekeeper.reconcile.gates import Desired
from gatekeeper.reconcile.witnesses import AdmittedChange
from gatekeeper.settings import SourceSettings

MANAGED_SELECTOR: Final = f"{contract.MANAGED_LABEL}=true"
_APPLY_ATTEMPTS: Final = 3


class KubePort(Protocol):
    """The cluster as the reconciler uses it (`KubeClient`)."""

    def resource_for(self, api_version: str, kind: str) -> ResourceType: ...

    def forget(self, api_version: str) -> None: ...

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]: ...

    def list(
        self, resource: ResourceType, *, label_selector: str = "", namespace: str | None = None
    ) -> list[dict[str, Any]]: ...

    def delete(self, resource: ResourceType, name: str, namespace: str | None = None) -> bool: ...

    def wait_established(self, crd_name: str, *, timeout: float = 15.0) -> None: ...


class Applier:
    """The cluster side of a pass for one reconciler."""

    def __init__(
        self,
        *,
        kube: KubePort,
        pool: ThreadPoolExecutor,
        check_leader: Callable[[], None],
        actor: str,
        retry_delay: float,
    ) -> None:
        self._kube = kube
        self._pool = pool
        self._check_leader = check_leader
        self.actor = actor
        self._retry_delay = retry_delay

    def live(
        self, source: SourceSettings, desired: Desired, previous_kinds: Sequence[str]
    ) -> dict[ObjectKey, dict[str, Any]]:
        types: dict[tuple[str, str], ResourceType] = {
            (r.api_version, r.kind): r for r in desired.resources.values()
        }
        for entry in previous_kinds:
            api_version, _, kind = str(entry).partition("|")
            if (api_version, kind) in types:
                continue
            try:
                types[(api_version, kind)] = self._kube.resource_for(api_version, kind)
            except UnknownKind:
                continue
        live: dict[ObjectKey, dict[str, Any]] = {}
        for resource in types.values():
            try:
                items = self._kube.list(resource, label_selector=MANAGED_SELECTOR)
            except KubeError as exc:
                if exc.status == 404:
                    continue  # a custom resource whose definition is not applied yet
                raise
            for item in items:
                annotations = (item.get("metadata") or {}).get("annotations") or {}
                if annotations.get(contract.SOURCE_ANNOTATION) == source.name:
                    live[ObjectKey.of(item)] = item
        return live

    def apply_tiers(
        self, tiers: Sequence[Sequence[DesiredObject]], desired: Desired
    ) -> list[ObjectKey]:
        done: list[ObjectKey] = []
        pending = [item.key for tier in tiers for item in tier]
        for tier in tiers:
            self._check_leader()
            futures = [(item, self._pool.submit(self._apply_one, item, desired)) for item in tier]
            errors: list[str] = []
            for item, future in futures:
                try:
                    future.result()
                except KubeError as exc:
                    errors.append(f"{item.key}: {exc}")
                    continue
                done.append(item.key)
                pending.remove(item.key)
            if errors:
                raise ApplyFailed("; ".join(errors[:5]), done, pending)
            crds = [item for item in tier if item.key.kind == "CustomResourceDefinition"]
            for item in crds:
                self._kube.wait_established(item.key.name)
                group = str((item.manifest.get("spec") or {}).get("group") or "")
                for version in (item.manifest.get("spec") or {}).get("versions") or []:
                    self._kube.forget(f"{group}/{version.get('name')}")
        return done

    def _apply_one(self, item: DesiredObject, desired: Desired) -> None:
        manifest = planner.expected(item, source=desired.source, commit=desired.commit)
        resource = desired.resources[item.key]
        for attempt in range(_APPLY_ATTEMPTS):
            try:
                self._kube.apply(manifest, resource)
                return
            except KubeError as exc:
                if not exc.transient or attempt == _APPLY_ATTEMPTS - 1:
                    raise
                time.sleep(self._retry_delay * 2**attempt)

    def handle_drift(
        self,
        source: SourceSettings,
        desired: Desired,
        plan: planner.Plan,
        records: list[NewEvent],
        witnesses: Callable[[ObjectKey], Sequence[AdmittedChange]] | None = None,
    ) -> int:
        """Record each drifted object (naming who changed it) and, in `correct` mode, apply
        it again. `witnesses` gives the changes the webhook admitted for an object."""
        if not plan.drifted:
            return 0
        for found in plan.drifted:
            actors = (
                drift.actors(found.live, found.changes, ignore=contract.FIELD_MANAGER)
                if found.live is not None
                else []
            )
            records.append(
                journal.drift_detected(
                    source=source.name,
                    commit=desired.commit,
                    item=found.desired,
                    changes=found.changes,
                    actors=actors,
                    missing=found.missing,
                    mode=source.drift,
                    admitted=witnesses(found.desired.key) if witnesses is not None else (),
                )
            )
        if source.drift == "correct":
            items = [found.desired for found in plan.drifted]
            try:
                self.apply_tiers(planner.group(items, custom_kinds=desired.custom_kinds), desired)
            except ApplyFailed as exc:
                records.append(
                    journal.failed(
                        source=source.name,
                        commit=desired.commit,
                        actor=self.actor,
                        error=str(exc),
                        applied=exc.applied,
                        not_applied=exc.not_applied,
                        stage="drift",
                    )
                )
                return len(plan.drifted)
            for found in plan.drifted:
                records.append(
                    journal.drift_corrected(
                        source=source.name,
                        commit=desired.commit,
                        actor=self.actor,
                        item=found.desired,
                        missing=found.missing,
                        fields=len(found.changes),
                    )
                )
        return len(plan.drifted)

    def prune(
        self,
        source: SourceSettings,
        desired: Desired,
        plan: planner.Plan,
        records: list[NewEvent],
    ) -> int:
        count = 0
        for obj in plan.prune:
            self._check_leader()
            key = ObjectKey.of(obj)
            try:
                resource = self._kube.resource_for(str(obj["apiVersion"]), key.kind)
                if self._kube.delete(resource, key.name, key.namespace or None):
                    count += 1
                    records.append(
                        journal.pruned(
                            source=source.name, commit=desired.commit, actor=self.actor, obj=obj
                        )
                    )
            except (KubeError, UnknownKind) as exc:
                records.append(
                    journal.failed(
                        source=source.name,
                        commit=desired.commit,
                        actor=self.actor,
                        error=str(exc),
                        applied=[],
                        not_applied=[key],
                        stage="prune",
                    )
                )
        return count
