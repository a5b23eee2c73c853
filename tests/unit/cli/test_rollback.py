"""`gatekeeper rollback` names an unknown source before it needs Kubernetes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import EXIT_USAGE, main


def test_an_unknown_source_is_a_usage_error_without_a_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'audit.db'}'}}\n"
        f"kubernetes: {{kubeconfig: {tmp_path / 'no-such-kubeconfig'}}}\n"
        "sources:\n  - {name: apps, repo: /srv/gitops, trust: trust.yaml}\n"
    )
    code = main(["--config", str(config), "rollback", "nosuch", "--reason", "x"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "unknown source 'nosuch'; configured: apps" in err
