"""The Secret digest key: loaded from the configured file, or made once beside the config."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from gatekeeper.audit.secret_digest import (
    SecretDigester,
    SecretKeyError,
    digester_from_settings,
    load_key_file,
)
from gatekeeper.settings import load_settings


def test_a_configured_key_file_is_used_and_must_exist(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n")
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("audit:\n  secretDigestKeyFile: key\n")
    digester = digester_from_settings(load_settings(config))
    assert digester.digest("x") == SecretDigester(("ab" * 32).encode()).digest("x")
    key.unlink()
    with pytest.raises(SecretKeyError, match="cannot read the Secret digest key"):
        digester_from_settings(load_settings(config))


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("short\n")
    with pytest.raises(SecretKeyError, match="at least 32"):
        load_key_file(key)


def test_without_a_setting_a_key_is_made_once_beside_the_config_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("audit: {}\n")
    with caplog.at_level(logging.WARNING):
        first = digester_from_settings(load_settings(config))
    made = tmp_path / "secret-digest.key"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert "secretDigestKeyFile is not set" in caplog.text
    caplog.clear()
    again = digester_from_settings(load_settings(config))
    assert again.digest("v") == first.digest("v")
    assert caplog.text == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_key_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    (folder / "gatekeeper.yaml").write_text("audit: {}\n")
    settings = load_settings(folder / "gatekeeper.yaml")
    (folder / "gatekeeper.yaml").unlink()
    folder.rmdir()
    with pytest.raises(SecretKeyError, match="set it to a key file"):
        digester_from_settings(settings)


def test_a_value_that_is_not_unicode_text_is_a_clear_refusal() -> None:
    from gatekeeper.audit.errors import AuditError

    digester = SecretDigester(b"k" * 32)
    with pytest.raises(AuditError, match="not valid Unicode text"):
        digester.digest("\ud800")
