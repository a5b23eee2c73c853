"""`dev-cluster up` stopped by SIGTERM (or Ctrl-C) while it starts leaves nothing running."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from gatekeeper.devcluster.binaries import KUBE_APISERVER, find_binaries
from gatekeeper.devcluster.layout import Layout
from tests.fixtures.commands import Command, wait_until_gone

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    on_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if find_binaries()[KUBE_APISERVER] is None and not on_ci:
        pytest.skip("no kube-apiserver built yet: run `gatekeeper dev-cluster up` once")
    return tmp_path / "plane"


@pytest.mark.parametrize(
    "moment",
    ["starting etcd", "starting kube-apiserver", "granting the users"],
    ids=["etcd-starting", "apiserver-starting", "rbac"],
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_signal_while_the_plane_starts_stops_what_it_started(
    state_dir: Path, moment: str, signum: int
) -> None:
    up = Command(["dev-cluster", "up", "--state-dir", str(state_dir)])
    try:
        up.wait_for(moment, seconds=120)
        up.signal(signum)
        code = up.wait(60)
    finally:
        up.kill()
    output = up.rest()
    assert code == 130, output
    assert "Traceback" not in output
    assert wait_until_gone(str(state_dir), seconds=5) == []
    layout = Layout(state_dir)
    assert not layout.pid_file("etcd").exists()
    assert not layout.pid_file(KUBE_APISERVER).exists()
    # Nothing left half-started stands in the way of the next start.
    again = Command(["dev-cluster", "up", "--state-dir", str(state_dir)])
    try:
        assert again.wait(120) == 0, again.rest()
        assert "started control plane" in again.rest()
    finally:
        again.kill()
        down = Command(["dev-cluster", "down", "--state-dir", str(state_dir)])
        assert down.wait(60) == 0, down.rest()
    assert wait_until_gone(str(state_dir), seconds=5) == []
