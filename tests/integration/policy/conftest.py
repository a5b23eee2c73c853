"""Fixtures for the opa-server engine: a real OPA at $OPA_URL, or a small local server on
127.0.0.1 speaking the part of OPA's REST API the engine uses (policies PUT/GET/DELETE,
data PUT, data POST), backed by the embedded OPA engine (regorus without it)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gatekeeper.policy.engine import UNDEFINED, RegoModule
from gatekeeper.policy.engines.opa_embedded import OpaEmbeddedEngine
from gatekeeper.policy.engines.opa_embedded import available as opa_available
from gatekeeper.policy.engines.regorus import RegorusEngine
from gatekeeper.policy.errors import EvaluationError, PolicyLoadError

# "file:row:col: message" (regorus) or "file:row: rego_parse_error: message" (OPA), possibly
# after a prefix naming the module.
_LOCATION = re.compile(
    r"(?P<file>[^\s:]+):(?P<row>\d+)(?::(?P<col>\d+))?: (?:(?P<code>rego_\w+): )?"
    r"(?P<message>[^\n]*)"
)


class OpaRestServer:
    """Holds modules and data like OPA does and answers on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        # OPA itself where its bindings are installed (as `make test` does), so the server
        # answers as a real OPA would, gaps of the default engine included; else regorus.
        self.engine: RegorusEngine | OpaEmbeddedEngine = (
            OpaEmbeddedEngine() if opa_available() else RegorusEngine()
        )
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        # While set, every request has its connection closed unanswered, as by a server
        # that is going away.
        self.unavailable = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OpaRestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def put_policy(self, policy_id: str, source: str) -> dict[str, Any] | None:
        """None when the module compiles with the others, else OPA's error body."""
        with self.lock:
            candidate = {**self.modules, policy_id: source}
            try:
                self._reload(candidate, self.data)
            except PolicyLoadError as exc:
                return _compile_error(str(exc))
            self.modules = candidate
        return None

    def delete_policy(self, policy_id: str) -> bool:
        with self.lock:
            if policy_id not in self.modules:
                return False
            remaining = {k: v for k, v in self.modules.items() if k != policy_id}
            self._reload(remaining, self.data)
            self.modules = remaining
        return True

    def put_data(self, path: list[str], value: Any) -> None:
        with self.lock:
            data = json.loads(json.dumps(self.data))
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
            if path:
                node[path[-1]] = value
            else:
                data = value
            self._reload(self.modules, data)
            self.data = data

    def _reload(self, modules: dict[str, str], data: dict[str, Any]) -> None:
        self.engine.load(
            [RegoModule(path=pid, source=src) for pid, src in sorted(modules.items())], data
        )

    def query(self, path: list[str], input_document: Any) -> Any:
        ref = "data" + "".join(f"[{json.dumps(p)}]" for p in path)
        return self.engine.query(ref, input_document)


def _compile_error(message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"code": "rego_parse_error", "message": message}
    match = _LOCATION.search(message)
    if match:
        error["code"] = match.group("code") or error["code"]
        error["message"] = match.group("message")
        error["location"] = {
            "file": match.group("file"),
            "row": int(match.group("row")),
            "col": int(match.group("col") or 1),
        }
    return {
        "code": "invalid_parameter",
        "message": "error(s) occurred while compiling module(s)",
        "errors": [error],
    }


def _handler_for(server: OpaRestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, body: Any | None = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def handle_one_request(self) -> None:
            if server.unavailable:
                self.close_connection = True
                return
            super().handle_one_request()

        def _route(self) -> tuple[str, str]:
            path = self.path.split("?", 1)[0]
            server.requests.append((self.command, path))
            for prefix in ("/v1/policies", "/v1/data"):
                if path == prefix or path.startswith(prefix + "/"):
                    return prefix, path[len(prefix) :].strip("/")
            return "", path

        def do_GET(self) -> None:
            prefix, rest = self._route()
            if prefix == "/v1/policies" and not rest:
                listing = [{"id": pid, "raw": src} for pid, src in server.modules.items()]
                self._reply(200, {"result": listing})
            else:
                self._reply(404, {"code": "resource_not_found", "message": self.path})

        def do_PUT(self) -> None:
            prefix, rest = self._route()
            body = self._body()
            if prefix == "/v1/policies" and rest:
                error = server.put_policy(rest, body.decode())
                self._reply(400, error) if error else self._reply(200, {})
            elif prefix == "/v1/data":
                server.put_data([p for p in rest.split("/") if p], json.loads(body or b"{}"))
                self._reply(204)
            else:
                self._reply(404, {"code": "resource_not_found", "message": self.path})

        def do_DELETE(self) -> None:
            prefix, rest = self._route()
            if prefix == "/v1/policies" and server.delete_policy(rest):
                self._reply(200, {})
            else:
                self._reply(404, {"code": "resource_not_found", "message": self.path})

        def do_POST(self) -> None:
            prefix, rest = self._route()
            if prefix != "/v1/data":
                self._reply(404, {"code": "resource_not_found", "message": self.path})
                return
            request = json.loads(self._body() or b"{}")
            try:
                value = server.query([p for p in rest.split("/") if p], request.get("input"))
            except EvaluationError as exc:
                self._reply(500, {"code": "internal_error", "message": str(exc)})
                return
            self._reply(200, {} if value is UNDEFINED else {"result": value})

    return Handler


@pytest.fixture
def opa_rest_server() -> Iterator[OpaRestServer]:
    server = OpaRestServer().start()
    yield server
    server.stop()


@pytest.fixture
def real_opa_url() -> str:
    """The URL of a real OPA server, from $OPA_URL; the test is skipped without one."""
    url = os.environ.get("OPA_URL")
    if not url:
        pytest.skip("OPA_URL is not set: no real OPA server to test against")
    return url


from tests.fixtures.gitrepo import gpg_home, keys, signed_repo  # noqa: E402

__all__ = ["gpg_home", "keys", "signed_repo"]
