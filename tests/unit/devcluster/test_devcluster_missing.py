"""Without binaries and off Debian, `up` explains the options instead of failing obscurely."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.devcluster import BinariesMissing, build, plane


def test_off_debian_the_error_lists_every_way_to_provide_a_control_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "is_debian", lambda: False)
    env = {"PATH": str(tmp_path / "empty"), "GATEKEEPER_DEV_CLUSTER_CACHE": str(tmp_path)}

    with pytest.raises(BinariesMissing) as missing:
        plane.ensure_binaries(progress=lambda _: None, env=env)

    message = str(missing.value)
    for option in ("KUBEBUILDER_ASSETS", "PATH", "GATEKEEPER_TEST_KUBECONFIG"):
        assert option in message
    assert list(tmp_path.iterdir()) == []
