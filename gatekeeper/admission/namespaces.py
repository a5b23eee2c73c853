"""The namespaces' labels for the webhook: listed, then watched, kept in `data.inventory`.

A Gatekeeper constraint may select objects by the labels of their namespace, which an
AdmissionReview does not carry. The webhook keeps every Namespace's metadata in the policy
inventory, from one list and then a watch that it renews; until the first list has arrived
`/readyz` answers 503, and a namespace missing from the inventory makes such a constraint an
evaluation error (answered by `admission.failClosed`) rather than a silent non-match.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
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
_LOOKUP_SECONDS = 2.0


class NamespaceWatch:
    """Follows the cluster's Namespaces in a thread and publishes them to `evaluator`."""

    def __init__(self, api: client.ApiClient, evaluator: PolicyEvaluator) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)
        self._evaluator = evaluator
        self._namespaces: dict[str, dict[str, Any]] = {}
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._response: Any = None
        # The watch thread and lookups from request threads both change the map.
        self._publishing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="namespace-watch", daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings, evaluator: PolicyEvaluator) -> NamespaceWatch | None:
        """The watch `admission.namespaceLabels` asks for, or None.

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
        return cls(api, evaluator)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop following; an open watch is cut at once (kube-apiserver would otherwise
        wait for it when it shuts down)."""
        self._stopping.set()
        response = self._response
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def lookup(self, name: str) -> dict[str, str] | None:
        """The labels of a namespace the watch has not reported (yet): read it once from the
        API server and keep it; None when it does not exist or cannot be read."""
        try:
            response: Any = self._core.read_namespace(
                name, _preload_content=False, _request_timeout=_LOOKUP_SECONDS
            )
            item = json.loads(response.data)
        except Exception as exc:  # any failure means "not known"
            if not (isinstance(exc, ApiException) and exc.status == 404):
                log.warning("namespace %s: cannot read it: %s", name, _describe(exc))
            return None
        kept = _kept(item)
        try:
            with self._publishing:
                self._namespaces.setdefault(name, kept)
                self._publish()
        except Exception as exc:  # the labels are known even if the engine did not take them
            log.warning("namespace %s: cannot add it to the inventory: %s", name, _describe(exc))
        return dict(kept["metadata"].get("labels") or {})

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the thread to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._watch(self._list())
            except Exception as exc:  # a lost connection or a refused list: try again
                if self._stopping.is_set():
                    break
                log.warning("namespace watch: %s; retrying", _describe(exc))
                self._stopping.wait(_RETRY_SECONDS)
        self._api.close()  # type: ignore[no-untyped-call]

    def _list(self) -> str:
        response: Any = self._core.list_namespace(_preload_content=False, _request_timeout=30)
        listed = json.loads(response.data)
        with self._publishing:
            self._namespaces = {
                item["metadata"]["name"]: _kept(item) for item in listed.get("items") or []
            }
            self._publish()
        self.ready.set()
        return str(listed["metadata"]["resourceVersion"])

    def _watch(self, resource_version: str) -> None:
        response: Any = self._core.list_namespace(
            watch=True,
            resource_version=resource_version,
            timeout_seconds=_WATCH_SECONDS,
            _preload_content=False,
            _request_timeout=_WATCH_SECONDS + 20,
        )
        self._response = response
        try:
            if self._stopping.is_set():  # stopped before `stop` could see the response
                return
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopping.is_set() or (line and not self._apply(json.loads(line))):
                    return
        finally:
            self._response = None
            response.release_conn()
        # The server ends each watch after its period: list again, which also heals any
        # event missed while reconnecting.

    def _apply(self, event: dict[str, Any]) -> bool:
        """Take one watch event in; False when the watch must start over from a list."""
        kind, item = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if item.get("code") == 410:  # Gone: the version is too old, list again
                return False
            raise ApiException(status=item.get("code"), reason=item.get("message"))
        name = (item.get("metadata") or {}).get("name")
        if kind not in ("ADDED", "MODIFIED", "DELETED") or not name:
            return True
        with self._publishing:
            if kind == "DELETED":
                self._namespaces.pop(name, None)
            else:
                self._namespaces[name] = _kept(item)
            self._publish()
        return True

    def _publish(self) -> None:
        self._evaluator.set_inventory(list(self._namespaces.values()))


def _kept(item: dict[str, Any]) -> dict[str, Any]:
    """What policies may read of a Namespace: its metadata without managedFields."""
    metadata = {k: v for k, v in (item.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def _describe(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"
