"""Shared fixtures for the policy tests: the shipped library, fixtures, and the engines."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.engines.opa_embedded import INSTALL_HINT, available
from gatekeeper.policy.engines.regorus import RegorusEngine

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "policies"
FIXTURES = ROOT / "tests" / "data" / "policy" / "fixtures"
GATEKEEPER_SUITES = ROOT / "tests" / "data" / "gatekeeper"

# regorus answers the combined decision rule on its VM and anything else on its
# interpreter; both paths are checked, next to embedded OPA.
EMBEDDED_ENGINES = ("regorus", "regorus-interpreter", "opa")


def require_opa() -> None:
    """Skip when the OPA bindings cannot load, except in CI, where that is a failure."""
    if available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"the embedded OPA engine must be installed in CI: {INSTALL_HINT}")
    pytest.skip(INSTALL_HINT)


def make_engine(name: str) -> Engine:
    if name == "regorus-interpreter":
        return RegorusEngine(use_vm=False)
    if name == "opa":
        require_opa()
    return create_engine(name)


@pytest.fixture(params=EMBEDDED_ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "opa":
        require_opa()
    return name


@pytest.fixture
def engine(engine_name: str) -> Iterator[Engine]:
    made = make_engine(engine_name)
    yield made
    made.close()


@pytest.fixture
def engine_factory(engine_name: str) -> Callable[[], Engine]:
    return lambda: make_engine(engine_name)


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path to text) under `root`; returns `root`."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
