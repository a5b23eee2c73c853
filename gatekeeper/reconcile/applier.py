"""Does to the cluster what the reconcile core decided: lists, applies tiers, prunes.

Tiers are applied in parallel with retries; each step reports what it did (`ApplyFailed`,
`Deletion`) and records nothing itself: the core turns that into the audit records. Before
each tier and each deletion it asks `check_leader`, which raises to stop a replica that no
longer holds the Lease. Once `stopping` says so (SIGTERM), no object is sent any more: the
requests already sent finish, and the rest is reported as not applied (or not deleted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import KubeError, UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.reconcile import planner
from gatekeeper.reconcile.core import Deletion
from gatekeeper.reconcile.desired import Desired
from gatekeeper.reconcile.errors import ApplyFailed

MANAGED_SELECTOR: Final = f"{contract.MANAGED_LABEL}=true"
_APPLY_ATTEMPTS: Final = 3
STOPPED: Final = "the reconciler was asked to stop (SIGTERM or Ctrl-C)"


class _Stopped(Exception):
    """An object not sent because a stop was asked for first."""


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
        retry_delay: float,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._kube = kube
        self._pool = pool
        self._check_leader = check_leader
        self._retry_delay = retry_delay
        self._stopping = stopping

    def live(
        self, source: str, desired: Desired, previous_kinds: Sequence[str]
    ) -> dict[ObjectKey, dict[str, Any]]:
        """This source's managed objects, of the commit's kinds and of `previous_kinds` (those
        the last sync applied, or left stale objects of)."""
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
                if annotations.get(contract.SOURCE_ANNOTATION) == source:
                    live[ObjectKey.of(item)] = item
        return live

    def apply_tiers(
        self, tiers: Sequence[Sequence[DesiredObject]], desired: Desired
    ) -> list[ObjectKey]:
        done: list[ObjectKey] = []
        pending = [item.key for tier in tiers for item in tier]
        for tier in tiers:
            if self._stopping():
                raise ApplyFailed(f"{STOPPED}: {len(pending)} objects not applied", done, pending)
            self._check_leader()
            futures = [(item, self._pool.submit(self._apply_one, item, desired)) for item in tier]
            errors: list[str] = []
            stopped = 0
            for item, future in futures:
                try:
                    future.result()
                except KubeError as exc:
                    errors.append(f"{item.key}: {exc}")
                    continue
                except _Stopped:
                    stopped += 1
                    continue
                done.append(item.key)
                pending.remove(item.key)
            if stopped:
                errors.append(f"{STOPPED}: {len(pending)} objects not applied")
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
            if self._stopping():
                raise _Stopped
            try:
                self._kube.apply(manifest, resource)
                return
            except KubeError as exc:
                if not exc.transient or attempt == _APPLY_ATTEMPTS - 1:
                    raise
                time.sleep(self._retry_delay * 2**attempt)

    def prune(self, objects: Sequence[Mapping[str, Any]]) -> tuple[Deletion, ...]:
        """Delete each stale object, dependants first; what each deletion did."""
        done: list[Deletion] = []
        for obj in objects:
            if self._stopping():
                done.append(Deletion(obj, deleted=False, error=f"{STOPPED}: not deleted"))
                continue
            self._check_leader()
            key = ObjectKey.of(obj)
            try:
                resource = self._kube.resource_for(str(obj["apiVersion"]), key.kind)
                deleted = self._kube.delete(resource, key.name, key.namespace or None)
            except (KubeError, UnknownKind) as exc:
                done.append(Deletion(obj, deleted=False, error=str(exc)))
                continue
            done.append(Deletion(obj, deleted=deleted))
        return tuple(done)
