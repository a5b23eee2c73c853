"""Fixtures for the OPA-server engine: a local OPA REST server, or a real OPA at $OPA_URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opa_rest_server import OpaRestServer


@pytest.fixture
def opa_rest_server() -> Iterator[OpaRestServer]:
    server = OpaRestServer().start()
    yield server
    server.stop()
