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

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from gatekeeper.errors import ConfigError
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
    path: str = ""  # the collection across all namespaces, found by discovery
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    response: Any = None  # the open watch, for `stop` to cut


class NamespaceWatch:
    """Follows the cluster's Namespaces (and `kinds`) in threads, publishing to `evaluator`."""

    def __init__(
        self,
        api: client.ApiClient,
        evaluator: PolicyEvaluator,
        kinds: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._api = api
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
            if kubeconfig is not None:
                api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(kubeconfig), context=settings.kubernetes.context
                )
            else:
                configuration = client.Configuration()
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                api = client.ApiClient(configuration)
        except (ConfigException, OSError) as exc:
            raise ConfigError(
                f"admission.namespaceLabels: cannot reach the cluster: {exc}"
            ) from exc
        return cls(api, evaluator, settings.policies.inventory_kinds())

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop following; open watches are cut at once (kube-apiserver would otherwise
        wait for them when it shuts down)."""
        self._stopping.set()
        self._changed.set()
        for followed in self._kinds:
            response = followed.response
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):  # threads still using it are stopping anyway
            self._api.close()  # type: ignore[no-untyped-call]

    def lookup(self, name: str) -> dict[str, str] | None:
        """The labels of a namespace the watch has not reported (yet): read it once from the
        API server and keep it; None when it does not exist or cannot be read."""
        try:
            item = json.loads(self._get(f"/api/v1/namespaces/{name}", (), _LOOKUP_SECONDS).data)
        except Exception as exc:  # any failure means "not known"
            if not (isinstance(exc, ApiException) and exc.status == 404):
                log.warning("namespace %s: cannot read it: %s", name, _describe(exc))
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
                if not followed.path:
                    followed.path = self._collection_path(followed)
                resource_version = self._list(followed)
                pause = _RETRY_SECONDS
                self._watch(followed, resource_version)
            except Exception as exc:  # a lost connection, a refused list, an unknown kind
                if self._stopping.is_set():
                    break
                log.warning(
                    "%s %s: %s; trying again in %g s",
                    followed.api_version,
                    followed.kind,
                    _describe(exc),
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
                log.warning("cannot update the policy inventory: %s", _describe(exc))
            self._stopping.wait(_PUBLISH_PAUSE)

    def _collection_path(self, followed: _Kind) -> str:
        """Where the kind is listed, from the API server's discovery of its group version."""
        group_version = followed.api_version
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        discovered = json.loads(self._get(base, (), 30).data)
        for resource in discovered.get("resources") or []:
            name = str(resource.get("name") or "")
            if resource.get("kind") == followed.kind and "/" not in name:
                return f"{base}/{name}"
        raise ConfigError(f"policies.inventory: {group_version} has no kind {followed.kind}")

    def _get(self, path: str, query: Sequence[tuple[str, str]], timeout: float) -> Any:
        """GET `path`; the driver's response, unread, or ApiException for an error status."""
        request = self._api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=list(query),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        answer = self._api.call_api(*request, _request_timeout=timeout)
        response = answer.response
        if not 200 <= answer.status < 300:
            body = response.data
            response.release_conn()
            raise ApiException(status=answer.status, reason=body.decode(errors="replace"))
        return response

    def _list(self, followed: _Kind) -> str:
        listed = json.loads(self._get(followed.path, (), 30).data)
        with self._publishing:
            followed.objects = {
                _key(item): _kept(item, followed.api_version, followed.kind)
                for item in listed.get("items") or []
            }
        if (followed.api_version, followed.kind) == _NAMESPACES:
            # Ready only once the engine has them: constraints that select namespaces by label
            # must not see an empty inventory.
            self._publish()
            self.ready.set()
        else:
            self._changed.set()
        return str(listed["metadata"]["resourceVersion"])

    def _watch(self, followed: _Kind, resource_version: str) -> None:
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(_WATCH_SECONDS)),
        ]
        response = self._get(followed.path, query, _WATCH_SECONDS + 20)
        followed.response = response
        try:
            if self._stopping.is_set():  # stopped before `stop` could see the response
                return
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopping.is_set() or (
                    line and not self._apply(followed, json.loads(line))
                ):
                    return
        finally:
            followed.response = None
            # Never back into the pool: a stream left half read would answer the next request.
            response.close()
        # The server ends each watch after its period: list again, which also heals any
        # event missed while reconnecting.

    def _apply(self, followed: _Kind, event: dict[str, Any]) -> bool:
        """Take one watch event in; False when the watch must start over from a list."""
        kind, item = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if item.get("code") == 410:  # Gone: the version is too old, list again
                return False
            raise ApiException(status=item.get("code"), reason=item.get("message"))
        if kind not in ("ADDED", "MODIFIED", "DELETED") or not (item.get("metadata") or {}).get(
            "name"
        ):
            return True
        with self._publishing:
            if kind == "DELETED":
                followed.objects.pop(_key(item), None)
            else:
                followed.objects[_key(item)] = _kept(item, followed.api_version, followed.kind)
        self._changed.set()
        return True

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


def _describe(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"
