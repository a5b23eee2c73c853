"""The demo's signing keys, made by gpg (in a private GNUPGHOME) and ssh-keygen."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.demo.errors import DemoFailed

# No passphrase and no pinentry: the keys live and die with the demo folder.
_GPG_CONF = "batch\nno-tty\npinentry-mode loopback\nno-auto-key-locate\nno-auto-key-retrieve\n"
_AGENT_CONF = "allow-loopback-pinentry\n"


def run_tool(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """Run a tool and return its stdout; a failure says which command and what it printed."""
    try:
        done = subprocess.run(list(args), env=env, input=stdin, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise DemoFailed(f"{args[0]} is not installed: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise DemoFailed(f"`{' '.join(args[:3])} ...` failed ({done.returncode}): {detail}")
    return done.stdout


@dataclass(frozen=True)
class OpenPgpKey:
    """An ed25519 OpenPGP signing key in `home`."""

    home: Path
    fingerprint: str
    name: str
    email: str
    public: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.home)}

    @classmethod
    def create(cls, home: Path, *, name: str, email: str) -> OpenPgpKey:
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(stat.S_IRWXU)
        (home / "gpg.conf").write_text(_GPG_CONF)
        (home / "gpg-agent.conf").write_text(_AGENT_CONF)
        env = {**os.environ, "GNUPGHOME": str(home)}
        uid = f"{name} <{email}>"
        gpg = ["gpg", "--quiet", "--batch"]
        run_tool(
            [*gpg, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign,cert", "never"],
            env=env,
        )
        listing = run_tool([*gpg, "--with-colons", "--list-keys", uid], env=env).decode()
        fingerprints = [
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        ]
        if not fingerprints:
            raise DemoFailed(f"gpg made no key for {uid}")
        fingerprint = fingerprints[0]
        public = run_tool([*gpg, "--armor", "--export", fingerprint], env=env).decode()
        return cls(home, fingerprint, name, email, public)

    def stop_agent(self) -> None:
        """Stop the gpg-agent that signing started for this home."""
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"], env=self.env, capture_output=True, check=False
        )


@dataclass(frozen=True)
class SshKey:
    """An ed25519 SSH key pair made by ssh-keygen."""

    private_path: Path
    name: str
    email: str
    public: str

    @classmethod
    def create(cls, folder: Path, *, name: str, email: str) -> SshKey:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}_ed25519"
        run_tool(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(path)])
        public = path.with_name(path.name + ".pub").read_text().strip()
        return cls(path, name, email, public)


@dataclass(frozen=True)
class DemoKeys:
    """alice (platform team, OpenPGP) and bob (app team, SSH)."""

    alice: OpenPgpKey
    bob: SshKey

    @classmethod
    def create(cls, folder: Path) -> DemoKeys:
        return cls(
            alice=OpenPgpKey.create(folder / "gnupg", name="Alice", email="alice@example.com"),
            bob=SshKey.create(folder / "ssh", name="bob", email="bob@example.com"),
        )

    def close(self) -> None:
        self.alice.stop_agent()
