"""A real OPA server as the engine: modules and data pushed over OPA's REST API, decisions
queried with POST /v1/data/{path} through `opa-python-client`."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from gatekeeper.policy.engine import UNDEFINED, RegoModule
from gatekeeper.policy.errors import EngineUnavailable, EvaluationError, PolicyLoadError

try:
    import opa_client
    import requests
    from opa_client.errors import (
        ConnectionsError,
        DeletePolicyError,
        PolicyNotFoundError,
        RegoParseError,
    )
except ImportError:  # pragma: no cover - opa-python-client is a runtime dependency
    opa_client = None

POLICY_PREFIX = "gatekeeper"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def policy_id(module: RegoModule) -> str:
    """The id a module is stored under on the server (URL-safe, stable per path)."""
    return f"{POLICY_PREFIX}/{_UNSAFE.sub('_', module.path).strip('_')}"


class OpaServerEngine:
    """OPA over HTTP. Every gatekeeper module is stored under ids starting `gatekeeper/`;
    a load pushes the new set, removes modules that left it, and on failure pushes the
    previous set back so the server keeps answering with the last good policies.
    """

    name = "opa-server"

    def __init__(self, *, host: str, port: int, ssl: bool = False, timeout: float = 5.0) -> None:
        if opa_client is None:
            raise EngineUnavailable("opa-python-client is not installed")
        self._options = {"host": host, "port": port, "ssl": ssl, "timeout": timeout}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._modules: tuple[RegoModule, ...] = ()
        self._data: dict[str, Any] = {}

    @classmethod
    def connect(cls, url: str, *, timeout: float = 5.0) -> OpaServerEngine:
        """An engine for the OPA server at `url` (http://host:port)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineUnavailable(f"OPA URL {url!r} must look like http://host:8181")
        port = parts.port or (443 if parts.scheme == "https" else 8181)
        return cls(host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=timeout)

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = opa_client.OpaClient(**self._options)
            self._local.client = client
        return client

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None:
        with self._lock:
            try:
                self._push(modules, data)
            except PolicyLoadError:
                if self._modules or self._data:
                    self._push(self._modules, self._data)
                raise
            self._modules, self._data = tuple(modules), dict(data)

    def _push(self, modules: Sequence[RegoModule], data: Mapping[str, Any]) -> None:
        client = self._client()
        try:
            for key, value in data.items():
                self._put_data(client, key, value)
            self._put_modules(client, modules)
            wanted = {policy_id(module) for module in modules}
            for stored in client.get_policies_list():
                if str(stored).startswith(f"{POLICY_PREFIX}/") and stored not in wanted:
                    client.delete_policy(stored)
        except (ConnectionsError, requests.RequestException) as exc:
            raise EngineUnavailable(f"OPA server unreachable: {exc}") from exc
        except (DeletePolicyError, PolicyNotFoundError) as exc:
            raise EngineUnavailable(f"OPA server refused a change: {exc.message}") from exc

    @staticmethod
    def _put_data(client: Any, key: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise PolicyLoadError(f"data document {key!r} must be an object for OPA's data API")
        try:
            client.update_or_create_data(value, key)
        except RegoParseError as exc:
            raise PolicyLoadError(f"data {key}: {exc.message}") from exc

    @staticmethod
    def _put_modules(client: Any, modules: Sequence[RegoModule]) -> None:
        # OPA compiles the whole set on every PUT, so a module that calls a function from a
        # module not pushed yet fails; such modules are retried once the others are in.
        pending = list(modules)
        while pending:
            failed: list[tuple[RegoModule, RegoParseError]] = []
            for module in pending:
                try:
                    client.update_policy_from_string(
                        module.as_v1(), policy_id(module), rego_compat=False
                    )
                except RegoParseError as exc:
                    failed.append((module, exc))
            if len(failed) == len(pending):
                first, error = failed[0]
                raise PolicyLoadError(_server_message(first, error)) from error
            pending = [module for module, _ in failed]

    def set_document(self, key: str, value: Any) -> None:
        with self._lock:
            try:
                self._put_data(self._client(), key, value)
            except requests.RequestException as exc:
                raise EngineUnavailable(f"OPA server unreachable: {exc}") from exc
            self._data[key] = value

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any:
        path = ref.removeprefix("data.")
        try:
            body = self._client().query_rule(dict(input_document or {}), path)
        except requests.HTTPError as exc:
            raise EvaluationError(_http_error_text(exc)) from exc
        except requests.RequestException as exc:
            raise EngineUnavailable(f"OPA server unreachable: {exc}") from exc
        return body.get("result", UNDEFINED)

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close_connection()


def _server_message(module: RegoModule, exc: Any) -> str:
    details = [e.get("message", "") for e in exc.errors if isinstance(e, dict)]
    locations = [
        f"{module.path}:{e['location']['row']}"
        for e in exc.errors
        if isinstance(e, dict) and isinstance(e.get("location"), dict) and "row" in e["location"]
    ]
    where = locations[0] if locations else module.path
    return f"{where}: {'; '.join(d for d in details if d) or exc.message}"


def _http_error_text(exc: Any) -> str:
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    return str(body.get("message") or exc)
