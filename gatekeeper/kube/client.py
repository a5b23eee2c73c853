"""The Kubernetes adapter: discovery, server-side apply, list, watch, delete; errors translated.

The one client of the project: the reconciler applies and prunes through it, the webhook follows
Namespaces and inventory kinds through its `snapshot` and `watch`. Errors of the client library
(`ApiException`, urllib3's, socket errors) become `gatekeeper.kube.errors` here and nowhere else.

It speaks JSON to the API server through the official client's `ApiClient` (authentication,
TLS, kubeconfig handling) but skips the typed models: the reconciler works on plain dicts, and
decoding thousands of objects into models and back costs more than the requests themselves.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypedDict, Unpack

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from gatekeeper.kube.contract import FIELD_MANAGER
from gatekeeper.kube.errors import Conflict, Forbidden, Gone, KubeError, NotFound, UnknownKind
from gatekeeper.kube.objects import ResourceType, split_api_version
from gatekeeper.kube.watch import Snapshot, WatchStream

APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"
_TIMEOUT: Final = 30.0
# kube-apiserver answers a larger request with HTTP 413 and closes the connection while the
# client is still sending it, so the answer itself usually cannot be read.
_SERVER_BODY_LIMIT: Final = 3 * 1024 * 1024
_NOT_YAML_PRINTABLE: Final = re.compile("[\x7f-\x9f\ufeff\ufffe\uffff]")


class _Call(TypedDict, total=False):
    """The parts of one API call besides its method and path."""

    query: Mapping[str, str] | None
    body: Mapping[str, Any] | bytes | None
    content_type: str
    timeout: float


class KubeClient:
    """Plain-dict access to one cluster as one identity."""

    def __init__(self, api: client.ApiClient, *, field_manager: str = FIELD_MANAGER) -> None:
        self._api = api
        self._field_manager = field_manager
        self._discovery: dict[str, dict[str, ResourceType]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path | None, context: str | None = None) -> KubeClient:
        """A client from a kubeconfig file, or the in-cluster configuration when None."""
        try:
            if kubeconfig is None:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                api = client.ApiClient(configuration)
            else:
                api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=str(kubeconfig), context=context
                )
        except (ConfigException, OSError) as exc:
            raise KubeError(f"cannot load the Kubernetes configuration: {exc}") from exc
        return cls(api)

    @property
    def api_client(self) -> client.ApiClient:
        return self._api

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # -- discovery ---------------------------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        """Where `kind` of `api_version` is served; `UnknownKind` when it is not."""
        kinds = self._group_version(api_version)
        found = kinds.get(kind)
        if found is None:
            raise UnknownKind(f"the cluster serves no {kind} in {api_version}")
        return found

    def forget(self, api_version: str) -> None:
        """Drop cached discovery for a group version (after a CRD for it was applied)."""
        with self._lock:
            self._discovery.pop(api_version, None)

    def _group_version(self, api_version: str) -> dict[str, ResourceType]:
        with self._lock:
            cached = self._discovery.get(api_version)
        if cached is not None:
            return cached
        group, version = split_api_version(api_version)
        if not version:
            raise UnknownKind(f"apiVersion {api_version!r} is not valid")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = self.request("GET", path)
        except NotFound:
            listing = {"resources": []}
        kinds: dict[str, ResourceType] = {}
        for resource in listing.get("resources") or []:
            name = str(resource.get("name") or "")
            if not name or "/" in name:
                continue
            kinds[str(resource["kind"])] = ResourceType(
                group=group,
                version=version,
                kind=str(resource["kind"]),
                plural=name,
                namespaced=bool(resource.get("namespaced")),
            )
        if kinds:
            with self._lock:
                self._discovery[api_version] = kinds
        return kinds

    # -- objects -----------------------------------------------------------------------------

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
        """Server-side apply as the configured field manager, taking over conflicting fields."""
        metadata = manifest.get("metadata") or {}
        path = resource.object_path(str(metadata["name"]), metadata.get("namespace"))
        query = {"fieldManager": self._field_manager, "force": "true"}
        body = _apply_body(manifest)
        result: dict[str, Any] = self.request(
            "PATCH", path, query=query, body=body, content_type=APPLY_PATCH
        )
        return result

    def list(
        self, resource: ResourceType, *, label_selector: str = "", namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of a type (in all namespaces unless one is given), kind filled in."""
        query = {"labelSelector": label_selector} if label_selector else {}
        items: list[dict[str, Any]] = []
        cont = ""
        while True:
            page_query = {**query, "limit": "2000", **({"continue": cont} if cont else {})}
            page = self.request("GET", resource.collection_path(namespace), query=page_query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(item)
            cont = str((page.get("metadata") or {}).get("continue") or "")
            if not cont:
                return items

    def snapshot(self, resource: ResourceType, *, timeout: float = _TIMEOUT) -> Snapshot:
        """Every object of a type, across namespaces, and the resourceVersion to watch from."""
        items: list[dict[str, Any]] = []
        cont, version = "", ""
        while True:
            query = {"limit": "2000", **({"continue": cont} if cont else {})}
            page = self.request("GET", resource.collection_path(), query=query, timeout=timeout)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(item)
            metadata = page.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or version)
            cont = str(metadata.get("continue") or "")
            if not cont:
                return Snapshot(items=items, resource_version=version)

    def watch(
        self, resource: ResourceType, *, resource_version: str, seconds: int = 60
    ) -> WatchStream:
        """Changes to a type after `resource_version`, for at most `seconds` (the server ends
        the watch then). Iterate the stream for events; `Gone` means list again."""
        path = resource.collection_path()
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "true",
        }
        response = self._send("GET", path, query=query, timeout=seconds + 20)
        if not 200 <= response.status < 300:
            data = response.read()
            raise _error("GET", path, response.status, data)
        return WatchStream(response.response, resource=resource, describe=f"watch {path}")

    def get(
        self,
        resource: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        timeout: float = _TIMEOUT,
    ) -> Any:
        """The live object, or None when it does not exist."""
        try:
            return self.request("GET", resource.object_path(name, namespace), timeout=timeout)
        except NotFound:
            return None

    def delete(self, resource: ResourceType, name: str, namespace: str | None = None) -> bool:
        """Delete in the background; False when it was already gone."""
        body = {"propagationPolicy": "Background"}
        try:
            self.request("DELETE", resource.object_path(name, namespace), body=body)
        except NotFound:
            return False
        return True

    def create(self, resource: ResourceType, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = (body.get("metadata") or {}).get("namespace")
        result: dict[str, Any] = self.request(
            "POST", resource.collection_path(namespace), body=dict(body)
        )
        return result

    def replace(self, resource: ResourceType, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT: fails with `Conflict` when `metadata.resourceVersion` is no longer current."""
        metadata = body.get("metadata") or {}
        path = resource.object_path(str(metadata["name"]), metadata.get("namespace"))
        result: dict[str, Any] = self.request("PUT", path, body=dict(body))
        return result

    def wait_established(self, crd_name: str, *, timeout: float = 15.0) -> None:
        """Wait until a CustomResourceDefinition's API is served."""
        crd = self.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self.get(crd, crd_name) or {}
            for condition in (live.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Established" and condition.get("status") == "True":
                    return
            time.sleep(0.1)
        raise KubeError(f"CustomResourceDefinition {crd_name} not established in {timeout} s")

    # -- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, **call: Unpack[_Call]) -> Any:
        """One API call; the JSON answer, or a `KubeError` that says what went wrong."""
        response = self._send(method, path, **call)
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(f"{method} {path}: the API server is unreachable: {exc}") from exc
        if 200 <= response.status < 300:
            return json.loads(data) if data else {}
        raise _error(method, path, response.status, data)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | bytes | None = None,
        content_type: str = "application/json",
        timeout: float = _TIMEOUT,
    ) -> Any:
        """Send one request; the response with its body still unread."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            method, url, headers, _, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            return self._api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except ApiException as exc:
            raise _too_large(method, path, body) or KubeError(
                f"{method} {path}: {exc.reason}", status=exc.status or 0
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _too_large(method, path, body) or KubeError(
                f"{method} {path}: the API server is unreachable: {exc}"
            ) from exc


def _apply_body(manifest: Mapping[str, Any]) -> bytes:
    """A manifest as the API server reads an apply body: as YAML. YAML has no surrogate
    escapes, so the `\\ud83d\\ude00` JSON writes by default for a character beyond U+FFFF is
    refused ("invalid Unicode character escape code"): text goes as UTF-8, escaped only where
    YAML cannot hold a character raw (DEL, the C1 controls, U+FEFF, U+FFFE, U+FFFF)."""
    text = json.dumps(dict(manifest), ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda match: f"\\u{ord(match[0]):04x}", text).encode()


def _too_large(method: str, path: str, body: Mapping[str, Any] | bytes | None) -> KubeError | None:
    """The error of a request the connection broke on because its body is over the API
    server's limit, or None when it is not (then the server may well be unreachable)."""
    if body is None:
        return None
    try:
        size = len(body) if isinstance(body, bytes) else len(json.dumps(body).encode())
    except (TypeError, ValueError):
        return None
    if size <= _SERVER_BODY_LIMIT:
        return None
    return KubeError(
        f"{method} {path}: HTTP 413: the request is {size} bytes, over the API server's "
        f"limit of {_SERVER_BODY_LIMIT}; the server closed the connection while it was sent",
        status=413,
        reason="RequestEntityTooLarge",
    )


def _error(method: str, path: str, status: int, data: bytes) -> KubeError:
    reason, message = "", ""
    try:
        document = json.loads(data)
        reason = str(document.get("reason") or "")
        message = str(document.get("message") or "")
    except (ValueError, AttributeError):
        message = data[:200].decode("utf-8", "replace")
    text = f"{method} {path}: HTTP {status}: {message or reason}"
    if status == 404:
        return NotFound(text, status=status, reason=reason)
    if status == 409:
        return Conflict(text, status=status, reason=reason)
    if status in (401, 403):
        return Forbidden(text, status=status, reason=reason)
    if status == 410:
        return Gone(text, status=status, reason=reason)
    return KubeError(text, status=status, reason=reason)
