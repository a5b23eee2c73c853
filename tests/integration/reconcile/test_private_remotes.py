"""Private repositories against real servers on loopback: `git http-backend` behind HTTP Basic
authentication and OpenSSH's sshd with a deploy key. Good credentials fetch; wrong
credentials, an unknown host key and an unreachable server each give a clear, classified
error; no secret reaches a message, the mirror's files or Git's argument list."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gatekeeper.reconcile.errors import SourceUnavailable
from gatekeeper.reconcile.gitsource import GitMirror
from gatekeeper.settings import SourceCredentials
from tests.fixtures.gitservers import (
    GitHttpServer,
    SshServer,
    bare_copy,
    free_port,
    git_http_server,
    ssh_server_factory,
)

__all__ = ["git_http_server", "ssh_server_factory"]

pytestmark = pytest.mark.integration


def _work_repo(path: Path) -> tuple[Path, str]:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "a.yaml").write_text("a: 1\n")
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "-C", str(path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(path), *env, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return path, head


def _mirror(tmp_path: Path, url: str, credentials: dict[str, object] | None) -> GitMirror:
    return GitMirror(
        url=url,
        ref="main",
        trust_file=tmp_path / "trust.yaml",
        cache_dir=tmp_path / "mirrors",
        credentials=None if credentials is None else SourceCredentials(**credentials),
        fetch_timeout=30,
    )


def _files_hold(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def served(tmp_path: Path, git_http_server: GitHttpServer) -> tuple[GitHttpServer, str, str]:
    work, head = _work_repo(tmp_path / "work")
    bare_copy(work, git_http_server.root / "private.git")
    return git_http_server, git_http_server.url("private"), head


def test_https_with_a_password_file_fetches_and_keeps_the_password_out_of_the_mirror(
    tmp_path: Path, served: tuple[GitHttpServer, str, str]
) -> None:
    server, url, head = served
    (tmp_path / "password").write_text(server.password + "\n")
    mirror = _mirror(
        tmp_path,
        url,
        {"https": {"username": "deploy", "passwordFile": tmp_path / "password"}},
    )

    assert mirror.fetch() == head
    assert mirror.fetch() == head  # and again, as a fetch into the existing mirror

    assert any(authorized for _, _, authorized in server.requests)
    assert _files_hold(mirror.git_dir, server.password) == []
    assert "deploy" not in (mirror.git_dir / "config").read_text()


def test_https_with_a_token_from_the_environment(
    tmp_path: Path, served: tuple[GitHttpServer, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url, head = served
    monkeypatch.setenv("GIT_TOKEN_FOR_TEST", server.password)
    mirror = _mirror(
        tmp_path, url, {"https": {"username": "deploy", "tokenEnv": "GIT_TOKEN_FOR_TEST"}}
    )
    assert mirror.fetch() == head


def test_https_with_a_wrong_password_is_an_auth_failure_that_names_no_secret(
    tmp_path: Path, served: tuple[GitHttpServer, str, str]
) -> None:
    _, url, _ = served
    (tmp_path / "password").write_text("not-the-Pa55word")
    mirror = _mirror(
        tmp_path, url, {"https": {"username": "deploy", "passwordFile": tmp_path / "password"}}
    )
    with pytest.raises(SourceUnavailable) as caught:
        mirror.fetch()
    assert caught.value.reason == "auth"
    assert "refused the credentials" in str(caught.value)
    assert "not-the-Pa55word" not in str(caught.value)
    assert url in str(caught.value)


def test_https_without_credentials_never_prompts(
    tmp_path: Path, served: tuple[GitHttpServer, str, str]
) -> None:
    _, url, _ = served
    with pytest.raises(SourceUnavailable) as caught:
        _mirror(tmp_path, url, None).fetch()
    assert caught.value.reason == "auth"


def test_a_missing_credentials_file_is_said_so(
    tmp_path: Path, served: tuple[GitHttpServer, str, str]
) -> None:
    _, url, _ = served
    mirror = _mirror(
        tmp_path, url, {"https": {"username": "deploy", "passwordFile": tmp_path / "nowhere"}}
    )
    with pytest.raises(SourceUnavailable, match="cannot read the password file") as caught:
        mirror.fetch()
    assert caught.value.reason == "credentials"


def test_an_unreachable_https_server(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("x")
    url = f"http://127.0.0.1:{free_port()}/private.git"
    mirror = _mirror(
        tmp_path, url, {"https": {"username": "deploy", "passwordFile": tmp_path / "password"}}
    )
    with pytest.raises(SourceUnavailable, match="cannot be reached") as caught:
        mirror.fetch()
    assert caught.value.reason == "unreachable"


def test_a_command_running_protocol_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(SourceUnavailable):
        _mirror(tmp_path, f"ext::sh -c touch% {marker}", None).fetch()
    assert not marker.exists()


@pytest.fixture
def ssh_served(tmp_path: Path, ssh_server_factory: type[SshServer]) -> tuple[SshServer, str, Path]:
    work, head = _work_repo(tmp_path / "work")
    bare = bare_copy(work, tmp_path / "ssh-repos" / "private.git")
    server = ssh_server_factory(directory=tmp_path / "sshd", repository=bare)
    server.start()
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line())
    return server, head, known


def test_ssh_with_a_deploy_key_and_pinned_known_hosts(
    tmp_path: Path, ssh_served: tuple[SshServer, str, Path]
) -> None:
    server, head, known = ssh_served
    key = server.client_key
    key.chmod(0o644)  # as a Secret volume mounts it: ssh would refuse it as it is
    mirror = _mirror(
        tmp_path, server.url(), {"ssh": {"privateKeyFile": key, "knownHostsFile": known}}
    )

    assert mirror.fetch() == head
    assert mirror.fetch() == head
    private = key.read_text().strip().splitlines()[1]
    assert _files_hold(mirror.git_dir, private) == []


def test_ssh_with_an_unknown_host_key_is_refused(
    tmp_path: Path, ssh_served: tuple[SshServer, str, Path]
) -> None:
    server, _, known = ssh_served
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = (tmp_path / "other.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{server.port} {other[0]} {other[1]}\n")
    mirror = _mirror(
        tmp_path,
        server.url(),
        {"ssh": {"privateKeyFile": server.client_key, "knownHostsFile": known}},
    )
    with pytest.raises(SourceUnavailable, match="host key is not the one pinned") as caught:
        mirror.fetch()
    assert caught.value.reason == "host-key"


def test_ssh_with_an_empty_known_hosts_is_refused(
    tmp_path: Path, ssh_served: tuple[SshServer, str, Path]
) -> None:
    server, _, known = ssh_served
    known.write_text("")
    mirror = _mirror(
        tmp_path,
        server.url(),
        {"ssh": {"privateKeyFile": server.client_key, "knownHostsFile": known}},
    )
    with pytest.raises(SourceUnavailable) as caught:
        mirror.fetch()
    assert caught.value.reason == "host-key"


def test_ssh_with_a_key_the_server_does_not_know(
    tmp_path: Path, ssh_served: tuple[SshServer, str, Path]
) -> None:
    server, _, known = ssh_served
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")],
        check=True,
    )
    mirror = _mirror(
        tmp_path,
        server.url(),
        {"ssh": {"privateKeyFile": tmp_path / "stranger", "knownHostsFile": known}},
    )
    with pytest.raises(SourceUnavailable) as caught:
        mirror.fetch()
    assert caught.value.reason == "auth"
    assert "BEGIN OPENSSH" not in str(caught.value)


def test_an_unreachable_ssh_server(tmp_path: Path, ssh_served: tuple[SshServer, str, Path]) -> None:
    server, _, known = ssh_served
    url = f"ssh://{server.user}@127.0.0.1:{free_port()}/private.git"
    mirror = _mirror(
        tmp_path, url, {"ssh": {"privateKeyFile": server.client_key, "knownHostsFile": known}}
    )
    with pytest.raises(SourceUnavailable, match="cannot be reached") as caught:
        mirror.fetch()
    assert caught.value.reason == "unreachable"
