"""X.509 signatures (gpgsm / S-MIME) and Sigstore gitsign signatures against the trust policy.

Both arrive as CMS signatures in git's `x509` format. A signer is trusted through the
certificate authorities its policy entry names, and the identity the certificate carries:

- `x509`: the certificate chains to one of the signer's roots and names one of the signer's
  `emails` (subject alternative name, or the subject's emailAddress), at the commit time and
  at the signed signing time.
- `sigstore`: the short-lived certificate chains to a Fulcio root of the signer's trusted root,
  its OIDC issuer extension and subject (an email or URI alternative name) match the signer's,
  and it was valid at the signed signing time (gitsign obtains the certificate after git has
  stamped the commit, so the committer time is not compared).

Chains are built once per certificate with `cryptography`'s verifier, then cached with the
window in which every certificate of the chain is valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from gatekeeper.provenance import cms, der
from gatekeeper.provenance.globs import IdentityGlob
from gatekeeper.provenance.verdicts import Reason, SignatureFormat, SignatureVerdict

FULCIO_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
FULCIO_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
REKOR_ENTRY = "1.3.6.1.4.1.57264.3.1"
_SIGNING_USAGES = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.CODE_SIGNING,
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
_FORMAT = SignatureFormat.X509


@dataclass(frozen=True, slots=True)
class Authority:
    """Trust anchors with the intermediates that go with them, and when they may issue."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def problem_at(self, when: datetime) -> str | None:
        if self.valid_from is not None and when < self.valid_from:
            return f"the certificate authority vouches only from {self.valid_from.isoformat()}"
        if self.valid_until is not None and when >= self.valid_until:
            return f"the certificate authority vouched only until {self.valid_until.isoformat()}"
        return None


@dataclass(frozen=True, slots=True)
class CertificateSigner:
    """A signer known by certificate: its authorities and the identities it may present."""

    signer: str
    kind: str  # "x509" or "sigstore"
    authorities: tuple[Authority, ...]
    identities: tuple[IdentityGlob, ...]
    issuer: IdentityGlob | None = None  # sigstore: the OIDC issuer
    require_transparency_log: bool = False

    def names(self, cert: x509.Certificate) -> bool:
        """Whether `cert` carries an identity (and, for sigstore, an issuer) of this signer."""
        if self.kind == "sigstore":
            issuer = oidc_issuer(cert)
            if issuer is None or self.issuer is None or not self.issuer.matches(issuer):
                return False
            found = sigstore_subjects(cert)
        else:
            found = emails(cert)
        return any(glob.matches(value) for glob in self.identities for value in found)


@dataclass(frozen=True, slots=True)
class Chain:
    """A verified path to an authority, and the window when all its certificates are valid."""

    authority: Authority
    not_before: datetime
    not_after: datetime

    def problem_at(self, when: datetime, fingerprint: str) -> str | None:
        if when < self.not_before:
            return (
                f"certificate {fingerprint} is not valid yet at {when.isoformat()}"
                f" (valid from {self.not_before.isoformat()})"
            )
        if when > self.not_after:
            return (
                f"certificate {fingerprint} expired {self.not_after.isoformat()},"
                f" before {when.isoformat()}"
            )
        return None


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def emails(cert: x509.Certificate) -> list[str]:
    """Email addresses a certificate names: its SAN rfc822Names and subject emailAddress."""
    found = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return found
    return [*san.get_values_for_type(x509.RFC822Name), *found]


def sigstore_subjects(cert: x509.Certificate) -> list[str]:
    """The identities Fulcio puts in the SAN: an email or a URI (a CI workflow, for example)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return [*san.get_values_for_type(x509.RFC822Name), *uris]


def oidc_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer of a Fulcio certificate (the DER-encoded v2 extension, else the v1)."""
    for oid in (FULCIO_ISSUER_V2, FULCIO_ISSUER_V1):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        try:
            if oid == FULCIO_ISSUER_V2:
                return der.read_one(raw).expect(der.UTF8_STRING, "issuer").content.decode()
            return raw.decode()
        except (der.DerError, UnicodeDecodeError):
            return None
    return None


def _usage_problem(cert: x509.Certificate) -> str | None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            return "its key usage does not allow signatures"
    except x509.ExtensionNotFound:
        pass
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not _SIGNING_USAGES & set(extended):
            return "its extended key usage allows neither email protection nor code signing"
    except x509.ExtensionNotFound:
        pass
    return None


def _window(chain: Sequence[x509.Certificate]) -> tuple[datetime, datetime]:
    return (
        max(c.not_valid_before_utc for c in chain),
        min(c.not_valid_after_utc for c in chain),
    )


class CertificateVerifier:
    """Verifies CMS signatures against the certificate signers of a trust policy."""

    def __init__(self, signers: Iterable[CertificateSigner]) -> None:
        self._signers = tuple(signers)
        self._stores = {
            id(authority): verification.Store(list(authority.roots))
            for signer in self._signers
            for authority in signer.authorities
        }
        # Keyed by the certificates themselves (they hash and compare by their encoding).
        self._chains: dict[tuple[int, tuple[x509.Certificate, ...]], Chain | None] = {}
        self._fingerprints: dict[x509.Certificate, str] = {}

    @property
    def empty(self) -> bool:
        return not self._signers

    def _build(
        self, authority: Authority, leaf: x509.Certificate, extra: list[x509.Certificate]
    ) -> Chain | None:
        # The chain is found at a time within the leaf's validity; whether that suits the
        # commit is judged afterwards against the window of the whole chain.
        middle = (
            leaf.not_valid_before_utc + (leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 2
        )
        intermediates = [*extra, *authority.intermediates]
        for when in (leaf.not_valid_before_utc, middle, leaf.not_valid_after_utc):
            builder = (
                verification.PolicyBuilder()
                .store(self._stores[id(authority)])
                .time(when)
                .extension_policies(
                    ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                    ee_policy=verification.ExtensionPolicy.permit_all(),
                )
            )
            try:
                verified = builder.build_client_verifier().verify(leaf, intermediates)
            except verification.VerificationError:
                continue
            start, end = _window(verified.chain)
            return Chain(authority, start, end)
        return None

    def _chain(self, signer: CertificateSigner, message: cms.SignedMessage) -> Chain | None:
        leaf = message.signer
        extra = message.intermediates
        key = (id(signer), (leaf, *extra))
        if key not in self._chains:
            found = None
            for authority in signer.authorities:
                found = self._build(authority, leaf, extra)
                if found is not None:
                    break
            self._chains[key] = found
        return self._chains[key]

    def verify(self, payload: bytes, signature: bytes, *, at: datetime) -> SignatureVerdict:
        """Check a CMS signature over `payload` made at `at` (the commit or tag time)."""
        try:
            message = cms.parse(signature)
        except cms.CmsError as exc:
            return SignatureVerdict(Reason.BAD_SIGNATURE, _FORMAT, None, None, str(exc))
        leaf = message.signer
        key_id = self._fingerprints.get(leaf)
        if key_id is None:
            key_id = self._fingerprints.setdefault(leaf, fingerprint(leaf))
        chained = [(s, c) for s in self._signers if (c := self._chain(s, message)) is not None]
        if not chained:
            return SignatureVerdict(
                Reason.UNKNOWN_KEY,
                _FORMAT,
                None,
                key_id,
                f"certificate {key_id} ({leaf.subject.rfc4514_string() or 'no subject'})"
                " does not chain to any listed root",
            )
        named = [(s, c) for s, c in chained if s.names(leaf)]
        if not named:
            who = ", ".join(dict.fromkeys(emails(leaf) + sigstore_subjects(leaf))) or "no identity"
            return SignatureVerdict(
                Reason.UNKNOWN_KEY,
                _FORMAT,
                None,
                key_id,
                f"certificate {key_id} for {who} chains to the roots of"
                f" {', '.join(sorted({s.signer for s, _ in chained}))} but names none of"
                " their identities",
            )
        usage = _usage_problem(leaf)
        if usage is not None:
            return SignatureVerdict(
                Reason.UNKNOWN_KEY, _FORMAT, None, key_id, f"certificate {key_id}: {usage}"
            )
        problems: list[tuple[CertificateSigner, Reason, str]] = []
        usable: CertificateSigner | None = None
        for signer, chain in named:
            problem = _time_problem(signer, chain, message, at, key_id)
            if problem is None:
                usable = signer
                break
            problems.append((signer, *problem))
        if usable is None:
            signer, reason, detail = problems[0]
            return SignatureVerdict(reason, _FORMAT, signer.signer, key_id, detail)
        try:
            cms.check_content(message, payload)
        except cms.CmsError as exc:
            return SignatureVerdict(Reason.BAD_SIGNATURE, _FORMAT, usable.signer, key_id, str(exc))
        if usable.require_transparency_log:
            # Fail closed: the transparency-log entry is not verified offline (yet).
            present = REKOR_ENTRY in message.unsigned_attributes
            return SignatureVerdict(
                Reason.UNKNOWN_KEY,
                _FORMAT,
                usable.signer,
                key_id,
                "the signer requires a verified transparency-log entry, which cannot be"
                f" verified offline (the signature {'carries' if present else 'lacks'} one)",
            )
        return SignatureVerdict(Reason.TRUSTED, _FORMAT, usable.signer, key_id)


def _time_problem(
    signer: CertificateSigner,
    chain: Chain,
    message: cms.SignedMessage,
    at: datetime,
    key_id: str,
) -> tuple[Reason, str] | None:
    """Why the chain could not sign then: commit and signing time (x509), signing time
    (sigstore), each within the chain's window and the authority's."""
    if signer.kind == "sigstore":
        if message.signing_time is None:
            return Reason.BAD_SIGNATURE, "a gitsign signature must carry its signing time"
        times = [message.signing_time]
    else:
        times = [at] if message.signing_time is None else [at, message.signing_time]
    for when in times:
        problem = chain.problem_at(when, key_id) or chain.authority.problem_at(when)
        if problem is not None:
            return Reason.EXPIRED_KEY, problem
    return None
