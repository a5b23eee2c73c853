"""`gatekeeper dev-cluster up|status|env|down` on a plane of its own, start to finish."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from kubernetes import client, config

from gatekeeper.cli import main
from gatekeeper.devcluster.binaries import KUBE_APISERVER, find_binaries

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    on_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if find_binaries()[KUBE_APISERVER] is None and not on_ci:
        pytest.skip("no kube-apiserver built yet: run `gatekeeper dev-cluster up` once")
    return tmp_path / "plane"


def _status(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    main(["dev-cluster", "status", "--state-dir", str(state_dir), "--format", "json"])
    status: dict[str, object] = json.loads(capsys.readouterr().out)
    return status


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_twice_reuses_the_plane_and_down_leaves_nothing_running(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--state-dir", str(state_dir)]
    try:
        assert main(["dev-cluster", "up", *args]) == 0
        first = _status(state_dir, capsys)
        assert first["running"] is True

        assert main(["dev-cluster", "up", *args]) == 0
        assert "reusing control plane" in capsys.readouterr().out
        second = _status(state_dir, capsys)
        assert second["components"] == first["components"]

        assert main(["dev-cluster", "env", "--user", "alice", *args]) == 0
        kubeconfig = state_dir / "kubeconfig" / "alice.yaml"
        assert capsys.readouterr().out.strip() == f"export KUBECONFIG={kubeconfig}"
        with config.new_client_from_config(config_file=str(kubeconfig)) as alice:
            version = client.VersionApi(alice).get_code()
        assert version.git_version.startswith("v1.")
    finally:
        assert main(["dev-cluster", "down", *args]) == 0

    components = first["components"]
    assert isinstance(components, dict)
    for component in components.values():
        assert not Path(f"/proc/{component['pid']}").exists()
        assert not _listening(component["port"])
    assert main(["dev-cluster", "status", *args]) == 1
    assert main(["dev-cluster", "env", *args]) == 1
    assert main(["dev-cluster", "down", *args]) == 0
    assert "no control plane was running" in capsys.readouterr().out
