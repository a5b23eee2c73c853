"""One entry point for signature checks: picks the format and the trusted keys for it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pysequoia

from gatekeeper.provenance import sshsig
from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.openpgp import OpenPgpVerifier, SigningKey
from gatekeeper.provenance.ssh import SshKey, SshVerifier
from gatekeeper.provenance.verdicts import Reason, SignatureFormat, SignatureVerdict

if TYPE_CHECKING:
    from gatekeeper.provenance.x509trust import CertificateSigner, CertificateVerifier

# What a SigningKey is made of, with the certificate as its bytes.
_OpenPgpKeyParts = tuple[str, str, bytes, datetime, datetime | None, bool]
# What an SshKey is made of, without the key object (rebuilt from the blob).
_SshKeyParts = tuple[str, bytes, datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class PortableKeys:
    """The OpenPGP and SSH keys of a keyring as plain values, for another process.

    X.509 signers stay behind: the other process checks OpenPGP and SSH signatures only.
    """

    openpgp: tuple[_OpenPgpKeyParts, ...]
    ssh: tuple[_SshKeyParts, ...]

    def keyring(self) -> Keyring:
        # A certificate's primary key and subkeys share it: parse each certificate once.
        certs: dict[bytes, pysequoia.Cert] = {}
        for _, _, raw, *_ in self.openpgp:
            if raw not in certs:
                certs[raw] = pysequoia.Cert.from_bytes(raw)
        openpgp = [
            SigningKey(signer, fpr, certs[raw], created, expires, revoked)
            for signer, fpr, raw, created, expires, revoked in self.openpgp
        ]
        ssh = [
            SshKey(signer, blob, sshsig.load_public_key(blob), after, before)
            for signer, blob, after, before in self.ssh
        ]
        return Keyring(openpgp=openpgp, ssh=ssh)


class Keyring:
    """Every trusted key of a trust policy, by format."""

    def __init__(
        self,
        *,
        openpgp: Iterable[SigningKey] = (),
        ssh: Iterable[SshKey] = (),
        certificates: Iterable[CertificateSigner] = (),
    ) -> None:
        self._openpgp_keys = tuple(openpgp)
        self._ssh_keys = tuple(ssh)
        self._openpgp = OpenPgpVerifier(self._openpgp_keys)
        self._ssh = SshVerifier(self._ssh_keys)
        signers = tuple(certificates)
        # Without certificate signers the X.509 checker (and `cryptography.x509`, about
        # 100 ms to import) is loaded only when an X.509 signature turns up: the signature
        # worker, given OpenPGP and SSH keys alone, never loads it.
        self._certificates = _certificate_verifier(signers) if signers else None

    def portable(self) -> PortableKeys:
        """The OpenPGP and SSH keys as plain values (see PortableKeys)."""
        # Keys of one certificate share it: serialise each certificate once.
        raw: dict[int, bytes] = {}
        for key in self._openpgp_keys:
            if id(key.cert) not in raw:
                raw[id(key.cert)] = bytes(key.cert)
        return PortableKeys(
            openpgp=tuple(
                (k.signer, k.fingerprint, raw[id(k.cert)], k.created, k.expires, k.revoked)
                for k in self._openpgp_keys
            ),
            ssh=tuple((k.signer, k.blob, k.valid_after, k.valid_before) for k in self._ssh_keys),
        )

    def verify(self, obj: SignedObject) -> SignatureVerdict:
        """The signature verdict of a commit or tag, judged at its committer/tagger time."""
        if obj.signature is None:
            return SignatureVerdict(Reason.UNSIGNED, None, None, None, f"{obj.kind} is not signed")
        return self.verify_parts(obj.format, obj.payload, obj.signature, obj.time)

    def verify_parts(
        self, fmt: SignatureFormat | None, payload: bytes, signature: bytes, at: datetime
    ) -> SignatureVerdict:
        """The verdict of `signature` (of format `fmt`) over `payload`, made at `at`."""
        if fmt is SignatureFormat.OPENPGP:
            return self._openpgp.verify(payload, signature, at=at)
        if fmt is SignatureFormat.SSH:
            return self._ssh.verify(payload, signature, at=at)
        if fmt is SignatureFormat.X509:
            # gpgsm (S/MIME) and gitsign (Sigstore) signatures: both CMS.
            if self._certificates is None:
                self._certificates = _certificate_verifier(())
            return self._certificates.verify(payload, signature, at=at)
        return SignatureVerdict(Reason.BAD_SIGNATURE, None, None, None, "unrecognised signature")


def _certificate_verifier(signers: tuple[CertificateSigner, ...]) -> CertificateVerifier:
    from gatekeeper.provenance.x509trust import CertificateVerifier

    return CertificateVerifier(signers)
