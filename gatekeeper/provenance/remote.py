"""Reaching a remote: clone and fetch with credentials that stay out of sight.

A password or token is handed to Git by an askpass helper that reads it from the child's
environment, and only for the origin of the source's URL; an SSH deploy key is copied to a
private file for the run and given to `ssh` with the pinned `known_hosts`, and nothing else
(no agent, no `~/.ssh`, no prompt). Neither ends up in a URL, in Git's argument list, in the
mirror's configuration or in a log: what Git prints is scrubbed before it is passed on.

Every failure says which of four kinds it is (`RemoteError.reason`): `auth` (the server
refused the credentials), `host-key` (the server's key is not the pinned one), `unreachable`
(no answer, or none in time) or `error` (anything else Git refused).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from gatekeeper.provenance.errors import RepositoryError
from gatekeeper.settings import SourceCredentials

Reason = Literal["auth", "host-key", "unreachable", "credentials", "error"]

# The protocols a source may use: `ext::` and the like would run commands.
_PROTOCOLS = "file:git:http:https:ssh"
# The default user name with a token: GitHub's; GitLab and Gitea take any name with a token.
TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name, not a secret

_ASKPASS = """#!/bin/sh
# Answers Git's prompts for the source's origin only; any other prompt gets nothing.
case "$1" in
  "Username for '$GK_GIT_ORIGIN': ") printf '%s\\n' "$GK_GIT_USERNAME" ;;
  "Password for '$GK_GIT_SCHEME://"*"@$GK_GIT_HOST': ") printf '%s\\n' "$GK_GIT_PASSWORD" ;;
  "Password for '$GK_GIT_ORIGIN': ") printf '%s\\n' "$GK_GIT_PASSWORD" ;;
  *) exit 1 ;;
esac
"""

# Variables of the caller's environment that would change how Git authenticates.
_DROPPED = (
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_DIR",
    "GIT_WORK_TREE",
)

_KINDS: tuple[tuple[Reason, str, re.Pattern[str]], ...] = (
    (
        "host-key",
        "the server's host key is not the one pinned in knownHostsFile",
        re.compile(
            r"host key verification failed|no \S+ host key is known|"
            r"remote host identification has changed",
            re.IGNORECASE,
        ),
    ),
    (
        "auth",
        "the server refused the credentials",
        re.compile(
            r"authentication failed|could not read (username|password)|"
            r"permission denied \(|error: 40[13]|returned error: 40[13]|invalid credentials",
            re.IGNORECASE,
        ),
    ),
    (
        "unreachable",
        "the server cannot be reached",
        re.compile(
            r"could not resolve host|connection refused|failed to connect|couldn't connect|"
            r"connection timed out|timed out|network is unreachable|no route to host|"
            r"connection reset|connection closed by remote host|operation timed out",
            re.IGNORECASE,
        ),
    ),
)


class RemoteError(RepositoryError):
    """A clone or fetch failed; `reason` says which kind of failure it was."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class Credentials:
    """Credentials as read for one clone or fetch; the secret parts are never shown."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    connect_timeout: float = 30.0

    def secrets(self) -> list[str]:
        found = [self.password] if self.password else []
        if self.private_key:
            found.append(self.private_key.decode("utf-8", "replace").strip())
        return found


def load_credentials(settings: SourceCredentials | None) -> Credentials | None:
    """Read the files and variables `settings` names, now (a rotated Secret counts at the
    next fetch); `RemoteError` (reason `credentials`) when one is missing or empty."""
    if settings is None:
        return None
    if settings.ssh is not None:
        ssh = settings.ssh
        key = _read(ssh.private_key_file, None, "privateKeyFile").encode()
        if not ssh.known_hosts_file.is_file():
            raise RemoteError(
                f"knownHostsFile {ssh.known_hosts_file} is missing", reason="credentials"
            )
        return Credentials(
            private_key=key + b"\n",
            known_hosts=ssh.known_hosts_file,
            connect_timeout=ssh.connect_timeout,
        )
    https = settings.https
    assert https is not None
    if https.token_file is not None or https.token_env is not None:
        password = _read(https.token_file, https.token_env, "token")
        default = TOKEN_USERNAME
    else:
        password = _read(https.password_file, https.password_env, "password")
        default = ""
    username = https.username
    if https.username_file is not None or https.username_env is not None:
        username = _read(https.username_file, https.username_env, "username")
    return Credentials(username=username or default, password=password)


def _read(path: Path | None, variable: str | None, what: str) -> str:
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RemoteError(
                f"cannot read the {what} file {path}: {exc.strerror}", reason="credentials"
            ) from exc
        where = f"file {path}"
    else:
        assert variable is not None
        value = os.environ.get(variable, "").strip()
        where = f"environment variable {variable}"
    if not value:
        raise RemoteError(f"the {what} {where} is empty or unset", reason="credentials")
    return value


@contextmanager
def git_environment(url: str, credentials: Credentials | None) -> Iterator[dict[str, str]]:
    """The environment of a Git child that reaches `url` with `credentials`, and never
    prompts. Helper files live in a private folder removed afterwards."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GCM_INTERACTIVE="never",
        GIT_ALLOW_PROTOCOL=_PROTOCOLS,
        GIT_NO_REPLACE_OBJECTS="1",
        # No credential helper may store what the askpass gives, nor offer what it holds.
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="credential.helper",
        GIT_CONFIG_VALUE_0="",
    )
    if credentials is None:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
        yield env
        return
    scratch = Path(tempfile.mkdtemp(prefix="gatekeeper-git-"))
    try:
        if credentials.password is not None:
            env.update(_askpass(url, credentials, scratch))
        if credentials.private_key is not None:
            env["GIT_SSH_COMMAND"] = _ssh_command(credentials, scratch)
        yield env
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _askpass(url: str, credentials: Credentials, scratch: Path) -> dict[str, str]:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # as Git names it in its prompts: host[:port]
    script = scratch / "askpass"
    script.write_text(_ASKPASS, encoding="utf-8")
    script.chmod(0o700)
    return {
        "GIT_ASKPASS": str(script),
        "GK_GIT_ORIGIN": f"{parts.scheme}://{host}",
        "GK_GIT_SCHEME": parts.scheme,
        "GK_GIT_HOST": host,
        "GK_GIT_USERNAME": credentials.username or "",
        "GK_GIT_PASSWORD": credentials.password or "",
    }


def _ssh_command(credentials: Credentials, scratch: Path) -> str:
    key = scratch / "key"
    key.touch(mode=0o600)
    key.write_bytes(credentials.private_key or b"")
    options = {
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "UserKnownHostsFile": str(credentials.known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "StrictHostKeyChecking": "yes",
        "BatchMode": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "ConnectTimeout": str(max(1, round(credentials.connect_timeout))),
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "4",
    }
    words = ["ssh", "-F", "/dev/null", "-i", str(key)]
    for name, value in options.items():
        words += ["-o", f"{name}={value}"]
    return shlex.join(words)


def run_git(
    args: Sequence[str],
    *,
    url: str,
    credentials: Credentials | None,
    timeout: float | None,
    what: str,
) -> None:
    """Run `git args` against `url`; `RemoteError` with a scrubbed, classified message."""
    secrets = credentials.secrets() if credentials is not None else []
    with git_environment(url, credentials) as env:
        try:
            done = subprocess.run(
                ["git", *args],
                capture_output=True,
                env=env,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(
                f"cannot {what} {scrub(url, secrets)}: the server cannot be reached: "
                f"no answer within {timeout:g}s",
                reason="unreachable",
            ) from exc
        except OSError as exc:
            raise RemoteError(f"cannot run git: {exc}", reason="error") from exc
    if done.returncode != 0:
        text = scrub(done.stderr.decode("utf-8", "replace"), secrets)
        reason, summary = classify(text)
        detail = _last_lines(text)
        message = f"cannot {what} {scrub(url, secrets)}: {summary}"
        raise RemoteError(f"{message}: {detail}" if detail else message, reason=reason)


def classify(stderr: str) -> tuple[Reason, str]:
    """The kind of a Git failure from what it printed, and a sentence saying it."""
    for reason, summary, pattern in _KINDS:
        if pattern.search(stderr):
            return reason, summary
    return "error", "git refused"


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` without the user part of any URL in it, nor any of `secrets`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _USERINFO.sub(r"\g<scheme>***@", text)


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Cloning into")]
    return " / ".join(lines[-count:])[:600]
