"""In-process keys and commit objects for fast unit tests of the provenance core (no gpg)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pysequoia
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pysequoia.packet import PacketPile

from gatekeeper.provenance import sshsig
from gatekeeper.provenance.objects import parse_commit
from gatekeeper.provenance.repository import CommitRecord


@dataclass(frozen=True)
class InProcessSshKey:
    private: ed25519.Ed25519PrivateKey

    @property
    def public(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )

    def sign(self, payload: bytes) -> bytes:
        return sshsig.sign(self.private, payload, namespace="git")


@dataclass(frozen=True)
class InProcessPgpKey:
    tsk: pysequoia.Tsk

    @property
    def public(self) -> str:
        return str(self.tsk.extract_certificate())

    @property
    def key_fingerprints(self) -> set[str]:
        """The primary key's and every subkey's fingerprint (a subkey does the signing)."""
        packets = PacketPile.from_bytes(bytes(self.tsk.extract_certificate()))
        return {p.fingerprint.upper() for p in packets if p.fingerprint is not None}

    def sign(self, payload: bytes) -> bytes:
        mode = pysequoia.SignatureMode.DETACHED
        return pysequoia.sign(self.tsk.signer(), payload, mode=mode)


@pytest.fixture(scope="session")
def ssh_key_factory() -> Callable[[], InProcessSshKey]:
    return lambda: InProcessSshKey(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def pgp_key() -> InProcessPgpKey:
    return InProcessPgpKey(pysequoia.Tsk.generate("Pat <pat@example.com>"))


_counter = iter(range(1, 1_000_000))


def make_commit(
    paths: tuple[str, ...],
    *,
    sign: Callable[[bytes], bytes] | None,
    time: int = 1_800_000_000,
    parents: tuple[str, ...] = (),
) -> CommitRecord:
    """A commit object as git would store it, signed in-process, with the paths it changes."""
    n = next(_counter)
    head = f"tree {n:040x}\n" + "".join(f"parent {p}\n" for p in parents)
    head += f"author A <a@example.com> {time} +0000\ncommitter A <a@example.com> {time} +0000\n"
    payload = f"{head}\ncommit {n}\n".encode()
    raw = payload
    if sign is not None:
        folded = sign(payload).rstrip(b"\n").replace(b"\n", b"\n ")
        raw = head.encode() + b"gpgsig " + folded + b"\n\n" + f"commit {n}\n".encode()
    return CommitRecord(parse_commit(f"{n:040x}", raw), paths)
