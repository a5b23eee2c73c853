"""Fixtures shared by every test: isolation from the caller's GATEKEEPER_* environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.cluster",
    "tests.fixtures.webhook",
]


@pytest.fixture(autouse=True)
def _clean_gatekeeper_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("GATEKEEPER_") and name != "GATEKEEPER_TEST_KUBECONFIG":
            monkeypatch.delenv(name)
    yield
