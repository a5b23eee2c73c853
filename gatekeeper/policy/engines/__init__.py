"""Engine backends and the factory that picks one by name (settings `policies.engine`)."""

from __future__ import annotations

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import EngineUnavailable

ENGINE_NAMES = ("regorus", "opa", "opa-server")


def create_engine(name: str, *, opa_url: str | None = None) -> Engine:
    """The engine called `name`: `regorus` (default), `opa` (embedded), `opa-server`."""
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
