"""SSHSIG signatures: our signer and verifier agree with each other and with ssh-keygen."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.provenance import sshsig
from tests.fixtures.signing import InProcessSshKey


@pytest.fixture(scope="module")
def key(ssh_key_factory: Callable[[], InProcessSshKey]) -> InProcessSshKey:
    return ssh_key_factory()


@settings(max_examples=50)
@given(st.binary(max_size=512))
def test_a_signature_verifies_over_its_message_and_no_other(
    key: InProcessSshKey, message: bytes
) -> None:
    sig = sshsig.parse(key.sign(message))
    public = sshsig.load_public_key(sig.public_key)
    sshsig.verify(sig, public, message, namespace="git")
    with pytest.raises(sshsig.SshSignatureError):
        sshsig.verify(sig, public, message + b"x", namespace="git")


def test_a_signature_in_another_namespace_is_refused(key: InProcessSshKey) -> None:
    sig = sshsig.parse(sshsig.sign(key.private, b"m", namespace="file"))
    public = sshsig.load_public_key(sig.public_key)
    with pytest.raises(sshsig.SshSignatureError, match="namespace 'file'"):
        sshsig.verify(sig, public, b"m", namespace="git")


def test_garbage_is_not_a_signature() -> None:
    with pytest.raises(sshsig.SshSignatureError):
        sshsig.parse(b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")


def test_the_fingerprint_is_openssh_s(key: InProcessSshKey, tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    path.write_text(key.public + "\n")
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, check=True, text=True
    ).stdout.split()[1]
    assert sshsig.fingerprint(sshsig.public_key_blob(key.public)) == shown


def _ssh_keygen_key(tmp_path: Path, kind: str, bits: str) -> tuple[Path, str]:
    path = tmp_path / f"id_{kind}"
    args = [
        "ssh-keygen",
        "-q",
        "-t",
        kind,
        "-N",
        "",
        "-f",
        str(path),
        *(["-b", bits] if bits else []),
    ]
    subprocess.run(args, check=True)
    return path, (tmp_path / f"id_{kind}.pub").read_text().strip()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("kind", "bits"), [("ed25519", ""), ("ecdsa", "256"), ("ecdsa", "384"), ("rsa", "2048")]
)
def test_signatures_made_by_ssh_keygen_verify_for_every_key_type(
    tmp_path: Path, kind: str, bits: str
) -> None:
    path, public = _ssh_keygen_key(tmp_path, kind, bits)
    message = b"tree 0\n\nhello\n"
    armored = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(path)],
        input=message,
        capture_output=True,
        check=True,
    ).stdout
    sig = sshsig.parse(armored)
    assert sig.public_key == sshsig.public_key_blob(public)
    key = sshsig.load_public_key(sig.public_key)
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) == (kind != "ed25519")
    sshsig.verify(sig, key, message, namespace="git")
    with pytest.raises(sshsig.SshSignatureError):
        sshsig.verify(sig, key, message.replace(b"hello", b"HELLO"), namespace="git")


@pytest.mark.integration
def test_signatures_made_here_verify_with_ssh_keygen(key: InProcessSshKey, tmp_path: Path) -> None:
    message = b"payload\n"
    (tmp_path / "msg.sig").write_bytes(key.sign(message))
    (tmp_path / "allowed").write_text(f"pat@example.com {key.public}\n")
    done = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(tmp_path / "allowed"),
            "-I",
            "pat@example.com",
            "-n",
            "git",
            "-s",
            str(tmp_path / "msg.sig"),
        ],
        input=message,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b'Good "git" signature for pat@example.com' in done.stdout


_ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_an_ed25519_signature_altered_to_another_encoding_of_itself_is_refused(
    key: InProcessSshKey,
) -> None:
    # S + L satisfies the verification equation as S does: only a check that S is
    # canonical (below the group order) refuses it, as RFC 8032 asks.
    sig = sshsig.parse(key.sign(b"m"))
    public = sshsig.load_public_key(sig.public_key)
    s = int.from_bytes(sig.signature[32:], "little") + _ED25519_ORDER
    altered = replace(sig, signature=sig.signature[:32] + s.to_bytes(32, "little"))
    with pytest.raises(sshsig.SshSignatureError):
        sshsig.verify(altered, public, b"m", namespace="git")
    with pytest.raises(sshsig.SshSignatureError):
        sshsig.verify(replace(sig, signature=sig.signature[:63]), public, b"m", namespace="git")
