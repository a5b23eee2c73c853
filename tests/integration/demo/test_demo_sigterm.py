"""`gatekeeper demo` stopped by SIGTERM while its control plane starts: nothing is left."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.fixtures.commands import Command, clean_environment, wait_until_gone

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]


@pytest.mark.parametrize("moment", ["starting etcd", "starting kube-apiserver"])
def test_sigterm_while_the_demo_starts_its_plane_stops_it_and_exits_130(
    tmp_path: Path, moment: str
) -> None:
    folder = tmp_path / "demo"
    demo = Command(
        ["demo", "--dir", str(folder), "--no-dashboard"],
        env=clean_environment(GATEKEEPER_DEMO_NO_DASHBOARD="1"),
    )
    try:
        demo.wait_for(moment, seconds=120)
        demo.signal(signal.SIGTERM)
        code = demo.wait(60)
    finally:
        demo.kill()
    output = demo.rest()
    assert code == 130, output
    assert "control plane stopped" in output
    assert "Traceback" not in output
    assert wait_until_gone(str(folder), seconds=5) == []
