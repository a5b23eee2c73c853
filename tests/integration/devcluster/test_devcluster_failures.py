"""A kube-apiserver that dies at start: `up` reports its log and leaves nothing running."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gatekeeper.devcluster import DevClusterError, plane, processes
from gatekeeper.devcluster.layout import Layout

pytestmark = [pytest.mark.integration]


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed")
def test_a_crashing_apiserver_is_reported_with_its_log_and_etcd_is_stopped(
    tmp_path: Path,
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    fake = assets / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'Error: unknown flag: --imaginary' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {"KUBEBUILDER_ASSETS": str(assets), "PATH": str(Path(shutil.which("etcd") or "").parent)}
    messages: list[str] = []
    state = tmp_path / "plane"

    with pytest.raises(DevClusterError) as failed:
        plane.up(state, progress=messages.append, env=env)

    assert "kube-apiserver exited with code 1" in str(failed.value)
    assert "unknown flag: --imaginary" in str(failed.value)
    assert sum("trying again" in m for m in messages) == 2
    layout = Layout(state.absolute())
    assert processes.running_pid(layout, "etcd") is None
    assert not layout.pid_file("etcd").exists()
    assert plane.running(layout) is None
