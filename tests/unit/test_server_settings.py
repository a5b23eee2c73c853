"""The webhook's server settings: a safe listen address, client authentication, deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ConfigError
from gatekeeper.settings import Settings, load_settings


def test_the_webhook_listens_on_loopback_unless_told_otherwise() -> None:
    server = Settings().server
    assert server.host == "127.0.0.1"
    assert server.client_ca_file is None and server.client_names == []
    assert server.request_timeout == 5.0


def test_client_names_need_a_client_ca(tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("server: {clientNames: [kube-apiserver]}\n")
    with pytest.raises(ConfigError, match="clientNames needs clientCaFile"):
        load_settings(config)


def test_the_client_ca_is_relative_to_the_config_file_and_the_timeout_a_duration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gatekeeper.yaml").write_text(
        "server:\n"
        "  clientCaFile: tls/apiserver-ca.crt\n"
        "  clientNames: [kube-apiserver]\n"
        "  requestTimeout: 1500ms\n"
    )
    monkeypatch.chdir(tmp_path)
    server = load_settings(Path("conf/gatekeeper.yaml")).server
    assert server.client_ca_file == tmp_path.resolve() / "conf" / "tls/apiserver-ca.crt"
    assert server.client_names == ["kube-apiserver"]
    assert server.request_timeout == 1.5


def test_a_request_timeout_of_zero_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("server: {requestTimeout: 0s}\n")
    with pytest.raises(ConfigError, match="requestTimeout"):
        load_settings(config)
