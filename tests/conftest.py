"""Fixtures shared by every test: isolation from the caller's GATEKEEPER_* environment, and a
refusal to run grouped tests apart when `--dist loadgroup` does not group them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.cluster",
    "tests.fixtures.webhook",
]


# Tests whose xdist_group mark `--dist loadgroup` did not act on (see below).
_UNGROUPED = pytest.StashKey[set[str]]()


@pytest.fixture(autouse=True)
def _grouped_as_marked(request: pytest.FixtureRequest) -> None:
    if request.node.nodeid in request.config.stash.get(_UNGROUPED, set()):
        pytest.fail(
            "--dist loadgroup did not group this test with the others of its xdist_group"
            " (pytest-dev/pytest-xdist#1386): they would run on several workers at once."
            " Install the pytest version pyproject.toml asks for."
        )


@pytest.fixture(autouse=True)
def _clean_gatekeeper_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("GATEKEEPER_") and name != "GATEKEEPER_TEST_KUBECONFIG":
            monkeypatch.delenv(name)
    yield


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note the tests that `--dist loadgroup` failed to group, so that each fails.

    The tests that share one node per machine, or one browser, rely on running in one
    worker; when their group is not carried into the test's id (pytest 9.2 with
    pytest-xdist 3.8) they would silently run on every worker at once and break each other.
    """
    if getattr(config.option, "loadgroup", False):
        config.stash[_UNGROUPED] = {
            item.nodeid
            for item in items
            if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
        }
