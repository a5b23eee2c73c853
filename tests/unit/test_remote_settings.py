"""Settings of private repositories and push receivers: what is refused, and paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gatekeeper.errors import ConfigError
from gatekeeper.provenance.remote import scrub
from gatekeeper.settings import load_settings


def _load(tmp_path: Path, config: dict[str, object]) -> object:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def _source(**extra: object) -> dict[str, object]:
    return {"name": "app", "repo": "https://git.example.com/app.git", "trust": "t.yaml", **extra}


def test_credential_files_are_resolved_against_the_config_folder(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        {
            "sources": [
                _source(credentials={"https": {"username": "ci", "passwordFile": "pw"}}),
                _source(
                    name="other",
                    repo="git@git.example.com:shop/app.git",
                    credentials={"ssh": {"privateKeyFile": "key", "knownHostsFile": "kh"}},
                ),
            ],
            "receivers": {"hooks": [{"provider": "github", "secretFile": "hook"}]},
        },
    )
    https = settings.sources[0].credentials.https  # type: ignore[attr-defined]
    ssh = settings.sources[1].credentials.ssh  # type: ignore[attr-defined]
    assert https.password_file == tmp_path / "pw"
    assert ssh.private_key_file == tmp_path / "key"
    assert ssh.known_hosts_file == tmp_path / "kh"
    assert settings.receivers.hooks[0].secret_file == tmp_path / "hook"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (_source(repo="https://ci:hunter2@git.example.com/app.git"), "must not hold a password"),
        (_source(credentials={"https": {"passwordFile": "pw"}}), "a password needs a username"),
        (
            _source(
                credentials={"https": {"username": "ci", "passwordFile": "a", "tokenEnv": "T"}}
            ),
            "exactly one of",
        ),
        (_source(credentials={"https": {"username": "ci", "tokenFile": "t", "pin": 1}}), "unknown"),
        (
            _source(credentials={"ssh": {"privateKeyFile": "k", "knownHostsFile": "kh"}}),
            "credentials.ssh needs an ssh://",
        ),
        (
            _source(repo="ssh://git@h/r.git", credentials={"https": {"tokenFile": "t"}}),
            "credentials.https needs an http",
        ),
        (_source(credentials={"ssh": {"privateKeyFile": "k"}}), "knownHostsFile"),
        (_source(credentials={}), "exactly one"),
    ],
)
def test_bad_credentials_are_refused(
    tmp_path: Path, source: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, {"sources": [source]})


@pytest.mark.parametrize(
    ("receivers", "message"),
    [
        ({"hooks": [{"provider": "github"}]}, "exactly one of secret"),
        ({"hooks": [{"provider": "svn", "secret": "x"}]}, "provider"),
        (
            {
                "hooks": [
                    {"provider": "github", "secret": "x"},
                    {"provider": "github", "secret": "y"},
                ]
            },
            "unique",
        ),
        ({"enabled": True}, "at least one hook"),
        ({"tlsCertFile": "c", "hooks": []}, "together"),
    ],
)
def test_bad_receivers_are_refused(
    tmp_path: Path, receivers: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, {"receivers": receivers})


def test_scrub_removes_user_parts_and_secrets() -> None:
    text = "fatal: unable to access 'https://ci:tok3n@h/r.git/': tok3n again"
    assert scrub(text, ["tok3n"]) == "fatal: unable to access 'https://***@h/r.git/': *** again"
