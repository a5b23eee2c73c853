"""`gatekeeper policy verify` as a user runs it: one process over every Gatekeeper suite in
tests/data/gatekeeper, on the default engine and on embedded OPA."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.policy.conftest import GATEKEEPER_SUITES, ROOT, require_opa

pytestmark = pytest.mark.integration

SUITES = sorted(GATEKEEPER_SUITES.glob("*/suite.yaml"))


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", "policy", "verify", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("engine", ["regorus", "opa"])
def test_every_suite_passes_in_one_process(engine: str) -> None:
    require_opa()
    started = time.monotonic()
    result = verify("--engine", engine, *map(str, SUITES))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{len(SUITES)} suites, ")
    passed, _, total = summary.split(", ")[1].removesuffix(" cases passed").partition(" of ")
    assert passed == total and int(total) >= 40
    print(f"{engine}: {summary} in {elapsed:.2f}s")
    if engine == "regorus":
        # The default engine says which templates embedded OPA decided, and why.
        assert "runs on embedded OPA" in result.stdout
        assert "runs on embedded OPA: regorus refuses it" in result.stderr


def test_a_suite_that_does_not_load_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("kind: Suite\ntests: [{name: t}]\n")
    result = verify(str(tmp_path / "suite.yaml"), *map(str, SUITES))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"ERROR\t{tmp_path / 'suite.yaml'}"
    assert sum(1 for line in lines if line.startswith("ok\t")) == len(SUITES)
