"""The `notifications` and `policyReports` sections: defaults, and bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(text)
    return load_settings(path)


def test_targets_take_their_defaults(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "notifications:\n  targets:\n"
        "    - {name: ops, type: slack, urlFile: slack.url}\n"
        "    - {name: events, type: kubernetesEvents}\n",
    )
    slack, events = settings.notifications.targets
    assert "drift.detected" in slack.kinds and slack.retry.give_up_after == 86_400
    assert settings.resolve(slack.url_file) == tmp_path / "slack.url"
    assert events.source_object.kind == "Lease"
    assert settings.policy_reports.enabled is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("notifications: {targets: [{name: a, type: webhook}]}", "exactly one of url"),
        (
            "notifications: {targets: [{name: a, type: webhook, url: 'ftp://x'}]}",
            "http:// or https://",
        ),
        (
            "notifications: {targets: [{name: a, type: slack, url: 'https://x', secret: s}]}",
            "slack takes no secret",
        ),
        (
            "notifications: {targets: [{name: a, type: kubernetesEvents, url: 'https://x'}]}",
            "takes no url",
        ),
        (
            "notifications: {targets: [{name: a, type: webhook, url: 'https://x', "
            "kinds: ['Sync.Rejected']}]}",
            "not a record kind",
        ),
        (
            "notifications: {targets: [{name: a, type: kubernetesEvents}, "
            "{name: a, type: kubernetesEvents}]}",
            "unique",
        ),
        ("notifications: {targets: [{name: a, type: email}]}", "type"),
        ("notifications: {tragets: []}", "unknown key"),
        ("policyReports: {enabled: true, maxResult: 5}", "unknown key"),
        (
            "notifications: {targets: [{name: a, type: kubernetesEvents, "
            "retry: {initial: 10s, max: 1s}}]}",
            "max must not be shorter",
        ),
    ],
)
def test_bad_sections_are_refused_with_their_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_a_secret_url_never_shows_in_the_settings_repr(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "notifications: {targets: [{name: a, type: slack, url: 'https://hooks.example/T0/B0/xyz'}]}",
    )
    assert "xyz" not in repr(settings)
