"""The cluster as policies see it in the webhook: Namespaces (and `policies.inventory` kinds)
listed, then watched, kept in `data.inventory`.

A Gatekeeper constraint may select objects by the labels of their namespace, which an
AdmissionReview does not carry, and a referential policy (a unique Ingress host) compares an
object with others of its kind. The webhook keeps the Namespaces' metadata and the objects of
the configured kinds in the policy inventory, each kind from one list and then a watch that it
renews. Until the Namespaces have been listed `/readyz` answers 503; a namespace missing from
the inventory is read once from the API server, and when that fails makes such a constraint
an evaluation error (answered as configured) rather than a silent non-match. A configured kind
that cannot be followed (not served, not allowed) is logged and tried again with a growing
pause, without holding the rest back, as Gatekeeper does with its sync set.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.errors import ConfigError
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Gone, KubeError
from gatekeeper.kube.objects import ResourceType
from gatekeeper.kube.watch import WatchEvent, WatchStream
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)

_WATCH_SECONDS = 60  # the server ends each watch after this long
_RETRY_SECONDS = 1.0
_RETRY_MAX_SECONDS = 60.0
_PUBLISH_PAUSE = 0.2  # at most five inventory rebuilds a second, however busy the watches
_LOOKUP_SECONDS = 2.0
_NAMESPACES = ("v1", "Namespace")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass
class _Kind:
    """One kind followed: where it is listed, and what the webhook knows of it."""

    api_version: str
    kind: str
    resource: ResourceType | None = None  # where it is served, found by discovery
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stream: WatchStream | None = None  # the open watch, for `stop` to cut


class NamespaceWatch:
    """Follows the cluster's Namespaces (and `kinds`) in threads, publishing to `evaluator`."""

    def __init__(
        self,
        kube: KubeClient,
        evaluator: PolicyEvaluator,
        kinds: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._kube = kube
        self._evaluator = evaluator
        wanted = [_NAMESPACES, *(k for k in kinds if k != _NAMESPACES)]
        self._kinds = [_Kind(api_version, kind) for api_version, kind in wanted]
        self.ready = threading.Event()
        self._stopping = threading.Event()
        # Watch threads and lookups from request threads all change the maps.
        self._publishing = threading.Lock()
        self._changed = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._run, args=(followed,), name=f"watch-{followed.kind}", daemon=True
            )
            for followed in self._kinds
        ]
        self._threads.append(
            threading.Thread(target=self._publisher, name="inventory-publisher", daemon=True)
        )

    @classmethod
    def from_settings(cls, settings: Settings, evaluator: PolicyEvaluator) -> NamespaceWatch | None:
        """The watch `admission.namespaceLabels` asks for, or None; it also follows the kinds
        of `policies.inventory`.

        `auto` watches when a kubeconfig is configured or the webhook runs in a Pod.
        """
        mode = settings.admission.namespace_labels
        kubeconfig = settings.resolve(settings.kubernetes.kubeconfig)
        in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ
        if mode == "off" or (mode == "auto" and kubeconfig is None and not in_cluster):
            return None
        try:
            kube = KubeClient.from_kubeconfig(kubeconfig, settings.kubernetes.context)
        except KubeError as exc:
            raise ConfigError(
                f"admission.namespaceLabels: cannot reach the cluster: {exc}"
            ) from exc
        return cls(kube, evaluator, settings.policies.inventory_kinds())

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop following; open watches are cut at once (kube-apiserver would otherwise
        wait for them when it shuts down)."""
        self._stopping.set()
        self._changed.set()
        for followed in self._kinds:
            stream = followed.stream
            if stream is not None:
                stream.cut()
        try:
            self._kube.close()
        except Exception as exc:  # threads still using it are stopping anyway
            log.debug("closing the Kubernetes client: %s", exc)

    def lookup(self, name: str) -> dict[str, str] | None:
        """The labels of a namespace the watch has not reported (yet): read it once from the
        API server and keep it; None when it does not exist or cannot be read."""
        try:
            namespaces = self._kinds[0].resource or self._kube.resource_for(*_NAMESPACES)
            item = self._kube.get(namespaces, name, timeout=_LOOKUP_SECONDS)
        except KubeError as exc:  # any failure means "not known"
            log.warning("namespace %s: cannot read it: %s", name, exc)
            return None
        if item is None:
            return None
        kept = _kept(item, *_NAMESPACES)
        with self._publishing:
            self._kinds[0].objects.setdefault(("", name), kept)
        self._changed.set()
        return dict(kept["metadata"].get("labels") or {})

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the threads to end; whether they have."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def _run(self, followed: _Kind) -> None:
        pause = _RETRY_SECONDS
        while not self._stopping.is_set():
            try:
                if followed.resource is None:
                    followed.resource = self._kube.resource_for(followed.api_version, followed.kind)
                resource_version = self._list(followed, followed.resource)
                pause = _RETRY_SECONDS
                self._watch(followed, followed.resource, resource_version)
            except Gone:
                continue  # the version is too old: list again at once
            except Exception as exc:  # a lost connection, a refused list, an unknown kind...
                if self._stopping.is_set():
                    break
                log.warning(
                    "%s %s: %s; trying again in %g s",
                    followed.api_version,
                    followed.kind,
                    exc,
                    pause,
                )
                self._stopping.wait(pause)
                pause = min(pause * 2, _RETRY_MAX_SECONDS)

    def _publisher(self) -> None:
        """Rebuild the inventory when something changed, at most every `_PUBLISH_PAUSE`."""
        while not self._stopping.is_set():
            self._changed.wait()
            self._changed.clear()
            if self._stopping.is_set():
                break
            try:
                self._publish()
            except Exception as exc:  # the engine refused it; the next change tries again
                log.warning("cannot update the policy inventory: %s: %s", type(exc).__name__, exc)
            self._stopping.wait(_PUBLISH_PAUSE)

    def _list(self, followed: _Kind, resource: ResourceType) -> str:
        listed = self._kube.snapshot(resource, timeout=30)
        with self._publishing:
            followed.objects = {
                _key(item): _kept(item, followed.api_version, followed.kind)
                for item in listed.items
            }
        if (followed.api_version, followed.kind) == _NAMESPACES:
            # Ready only once the engine has them: constraints that select namespaces by label
            # must not see an empty inventory.
            self._publish()
            self.ready.set()
        else:
            self._changed.set()
        return listed.resource_version

    def _watch(self, followed: _Kind, resource: ResourceType, resource_version: str) -> None:
        stream = self._kube.watch(
            resource, resource_version=resource_version, seconds=_WATCH_SECONDS
        )
        followed.stream = stream
        try:
            if self._stopping.is_set():  # stopped before `stop` could see the stream
                return
            for event in stream:
                if self._stopping.is_set():
                    return
                self._apply(followed, event)
        finally:
            followed.stream = None
            stream.close()
        # The server ends each watch after its period: list again, which also heals any
        # event missed while reconnecting.

    def _apply(self, followed: _Kind, event: WatchEvent) -> None:
        """Take one watch event in."""
        with self._publishing:
            if event.type == "DELETED":
                followed.objects.pop(_key(event.object), None)
            else:
                followed.objects[_key(event.object)] = _kept(
                    event.object, followed.api_version, followed.kind
                )
        self._changed.set()

    def _publish(self) -> None:
        with self._publishing:
            objects = [item for followed in self._kinds for item in followed.objects.values()]
        self._evaluator.set_inventory(objects)


def _key(item: dict[str, Any]) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name"))


def _kept(item: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """What policies may read: a Namespace's metadata, or the whole object of another kind,
    without managedFields."""
    metadata = {k: v for k, v in (item.get("metadata") or {}).items() if k != "managedFields"}
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
    if (api_version, kind) == _NAMESPACES:
        return {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    rest = {k: v for k, v in item.items() if k not in ("metadata", "apiVersion", "kind")}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **rest}
