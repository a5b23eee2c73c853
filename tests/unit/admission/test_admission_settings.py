"""The admission and server settings the webhook added, as a config file spells them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings


def test_webhook_settings_are_read_from_camel_case_keys(tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        "admission:\n"
        "  guardedKinds: [Deployment, Service]\n"
        "  exemptSubresources: [status, scale]\n"
        "  breakGlassLifts: []\n"
        "  decisionTimeout: 250ms\n"
        "  recordBatchDelay: 2ms\n"
        "server:\n"
        "  tlsReloadInterval: 1m\n"
    )
    settings = load_settings(config)
    admission = settings.admission
    assert admission.guarded_kinds == ["Deployment", "Service"]
    assert admission.exempt_subresources == ["status", "scale"]
    assert admission.break_glass_lifts == []
    assert admission.decision_timeout == 0.25
    assert admission.record_batch_delay == 0.002
    assert settings.server.tls_reload_interval == 60.0


def test_the_defaults_guard_nothing_extra_and_fail_closed() -> None:
    admission = load_settings(None).admission
    assert admission.guarded_kinds == []
    assert admission.exempt_subresources == ["status"]
    assert admission.break_glass_lifts == ["library.provenance_verified"]
    assert admission.fail_closed is True
    assert 0 < admission.decision_timeout < 5


def test_a_zero_decision_timeout_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("admission:\n  decisionTimeout: 0s\n")
    with pytest.raises(ConfigError, match=r"admission\.decisionTimeout"):
        load_settings(config)
