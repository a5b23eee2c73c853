"""One entry point for signature checks: picks the format and the trusted keys for it."""

from __future__ import annotations

from collections.abc import Iterable

from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.openpgp import OpenPgpVerifier, SigningKey
from gatekeeper.provenance.ssh import SshKey, SshVerifier
from gatekeeper.provenance.verdicts import Reason, SignatureFormat, SignatureVerdict
from gatekeeper.provenance.x509trust import CertificateSigner, CertificateVerifier


class Keyring:
    """Every trusted key of a trust policy, by format."""

    def __init__(
        self,
        *,
        openpgp: Iterable[SigningKey] = (),
        ssh: Iterable[SshKey] = (),
        certificates: Iterable[CertificateSigner] = (),
    ) -> None:
        self._openpgp = OpenPgpVerifier(openpgp)
        self._ssh = SshVerifier(ssh)
        self._certificates = CertificateVerifier(certificates)

    def verify(self, obj: SignedObject) -> SignatureVerdict:
        """The signature verdict of a commit or tag, judged at its committer/tagger time."""
        if obj.signature is None:
            return SignatureVerdict(Reason.UNSIGNED, None, None, None, f"{obj.kind} is not signed")
        fmt = obj.format
        if fmt is SignatureFormat.OPENPGP:
            return self._openpgp.verify(obj.payload, obj.signature, at=obj.time)
        if fmt is SignatureFormat.SSH:
            return self._ssh.verify(obj.payload, obj.signature, at=obj.time)
        if fmt is SignatureFormat.X509:
            # gpgsm (S/MIME) and gitsign (Sigstore) signatures: both CMS.
            return self._certificates.verify(obj.payload, obj.signature, at=obj.time)
        return SignatureVerdict(Reason.BAD_SIGNATURE, None, None, None, "unrecognised signature")
