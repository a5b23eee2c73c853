"""Engine backends and the factory that picks one by name (settings `policies.engine`)."""

from __future__ import annotations

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import EngineUnavailable

ENGINE_NAMES = ("regorus", "opa", "opa-server")


# The engines that evaluate in this process, in native code that holds Python's lock.
EMBEDDED = ("regorus", "opa")


def create_engine(
    name: str, *, opa_url: str | None = None, isolate_seconds: float | None = None
) -> Engine:
    """The engine called `name`: `regorus` (default), `opa` (embedded), `opa-server`.

    With `isolate_seconds`, an embedded engine evaluates in child processes and a query
    that takes longer is cut off (`gatekeeper.policy.engines.isolated`)."""
    if isolate_seconds is not None and name in EMBEDDED:
        from gatekeeper.policy.engines.isolated import IsolatedEngine

        return IsolatedEngine(name, timeout=isolate_seconds)
    if name == "regorus":
        from gatekeeper.policy.engines.regorus import RegorusEngine

        return RegorusEngine()
    if name == "opa":
        from gatekeeper.policy.engines.opa_embedded import OpaEmbeddedEngine

        return OpaEmbeddedEngine()
    if name == "opa-server":
        if not opa_url:
            raise EngineUnavailable("engine opa-server needs policies.opaUrl")
        from gatekeeper.policy.engines.opa_server import OpaServerEngine

        return OpaServerEngine.connect(opa_url)
    raise EngineUnavailable(f"unknown policy engine {name!r}; use one of {', '.join(ENGINE_NAMES)}")
