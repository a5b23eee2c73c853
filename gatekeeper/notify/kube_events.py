"""Kubernetes Events: a core/v1 Event on the object a record is about (or, for a record
about a whole source, on a configured object), so `kubectl describe` shows it."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any, Final

from gatekeeper.audit import chain
from gatekeeper.audit.events import Record
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict, KubeError, NotFound, UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.notify.describe import describe
from gatekeeper.notify.errors import NotifyError

EVENT: Final = ResourceType(group="", version="v1", kind="Event", plural="events", namespaced=True)
COMPONENT: Final = "gitops-gatekeeper"
SEQ_ANNOTATION: Final = "gatekeeper.dev/audit-seq"
HASH_ANNOTATION: Final = "gatekeeper.dev/audit-hash"
# Events of cluster-scoped objects live here, as kubectl and client-go put them.
CLUSTER_EVENTS_NAMESPACE: Final = "default"
_NOT_IN_NAME: Final = re.compile(r"[^a-z0-9.-]+")


@dataclass(frozen=True)
class Involved:
    """An Event's involvedObject and the namespace the Event goes to."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str = ""
    cluster_scoped: bool = False

    def reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if not self.cluster_scoped:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


def is_about_an_event(record: Record) -> bool:
    """Records of Events themselves (the webhook reviews our own): an Event for one of them
    would be reviewed and recorded in turn, without end."""
    key = ObjectKey.parse(record.subject)
    return key is not None and key.kind == "Event" and key.api_group in ("", "events.k8s.io")


def event_name(involved_name: str, record: Record) -> str:
    """The same on every try, so that a retry after an Event was made finds it (409)."""
    base = _NOT_IN_NAME.sub("-", involved_name.lower()).strip("-.")[:200] or "object"
    return f"{base}.gk{record.seq}-{record.hash[:10]}"


def event_body(record: Record, involved: Involved, *, instance: str) -> dict[str, Any]:
    told = describe(record)
    stamp = chain.as_utc(record.time).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = involved.namespace
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(involved.name, record),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": COMPONENT},
            "annotations": {SEQ_ANNOTATION: str(record.seq), HASH_ANNOTATION: record.hash},
        },
        "involvedObject": involved.reference(),
        "reason": told.reason,
        "message": told.text,
        "type": told.type,
        "source": {"component": COMPONENT},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": COMPONENT,
        "reportingInstance": instance[:128],
    }


class EventSender:
    """Makes the Event of one record; repeats are harmless (the name is fixed)."""

    def __init__(self, kube: KubeClient, *, source_object: Involved, instance: str = "") -> None:
        self._kube = kube
        self._source_object = source_object
        self._instance = instance or socket.gethostname()
        self._versions: dict[str, str] = {"": "v1"}

    def send(self, record: Record) -> None:
        try:
            involved = self.involved(record)
            self._kube.create(EVENT, event_body(record, involved, instance=self._instance))
        except Conflict:
            return  # made by an earlier try whose answer was lost
        except KubeError as exc:
            raise NotifyError(f"cannot create the Event of record #{record.seq}: {exc}") from exc

    def involved(self, record: Record) -> Involved:
        """The object the record names, with its uid when it exists (kubectl describe
        matches Events by uid); the configured object for a record about a source."""
        key = ObjectKey.parse(record.subject)
        if key is None:
            return self._source_object
        api_version = self._api_version(key.api_group)
        try:
            resource = self._kube.resource_for(api_version, key.kind)
        except UnknownKind:
            return Involved(
                api_version,
                key.kind,
                key.name,
                key.namespace or CLUSTER_EVENTS_NAMESPACE,
                cluster_scoped=not key.namespace,
            )
        live = self._kube.get(resource, key.name, key.namespace or None)
        uid = str(((live or {}).get("metadata") or {}).get("uid") or "")
        if not resource.namespaced:
            return Involved(
                api_version, key.kind, key.name, CLUSTER_EVENTS_NAMESPACE, uid, cluster_scoped=True
            )
        return Involved(api_version, key.kind, key.name, key.namespace, uid)

    def _api_version(self, group: str) -> str:
        """The group's preferred version, as the API server says (kept once asked)."""
        if group not in self._versions:
            try:
                found = self._kube.request("GET", f"/apis/{group}")
                preferred = (found.get("preferredVersion") or {}).get("groupVersion")
            except NotFound:
                preferred = None
            self._versions[group] = str(preferred or f"{group}/v1")
        return self._versions[group]
