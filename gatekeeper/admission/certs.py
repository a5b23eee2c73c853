"""The webhook's own certificates: a CA and a serving certificate it signs, and when to renew.

What kube-apiserver needs to call the webhook without cert-manager: a serving certificate for
the Service's DNS names, and the CA that signed it in the ValidatingWebhookConfiguration's
`caBundle`. Both are made here, kept in one Secret by `certkeeper`, and renewed before they
expire. The serving certificate is renewed under the same CA, so the `caBundle` stays as it
is; only a CA near its own end is replaced, and then the bundle holds the new CA and the old
one, until the old one expires, so that a replica still serving the old certificate keeps
being trusted while it picks the new one up.

No I/O: PEM in, PEM out, and the time is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatekeeper.admission.errors import CertificateError

# A little before now, so that an API server whose clock is a bit behind accepts them.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CertificateSet:
    """What the Secret holds: the CA bundle (the current CA first, then older CAs still
    trusted), the current CA's key, and the serving certificate and its key, all PEM."""

    ca_bundle: bytes
    ca_key: bytes
    cert: bytes
    key: bytes


class Need(Enum):
    """What a certificate set needs."""

    NOTHING = "nothing"
    NEW_CERTIFICATE = "new-certificate"
    NEW_AUTHORITY = "new-authority"


@dataclass(frozen=True)
class Lifetimes:
    """How long each certificate lives, and how long before its end it is replaced."""

    authority: dt.timedelta
    certificate: dt.timedelta
    renew_before: dt.timedelta

    def __post_init__(self) -> None:
        if self.renew_before >= self.certificate:
            raise CertificateError(
                "renewBefore must be shorter than the certificate's validity, or every "
                "certificate would be renewed as soon as it is made"
            )
        if self.authority <= self.certificate + self.renew_before:
            raise CertificateError(
                "the CA's validity must be longer than the certificate's plus renewBefore, "
                "or every check would find the CA too close to its end"
            )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make(
    dns_names: list[str],
    lifetimes: Lifetimes,
    now: dt.datetime,
    *,
    previous: CertificateSet | None = None,
) -> CertificateSet:
    """A new CA and a serving certificate for `dns_names`; the CAs of `previous` that are
    still valid stay in the bundle after the new one."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{dns_names[0]} webhook CA")])
    public = key.public_key()
    authority = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + lifetimes.authority)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    kept = [
        old
        for old in (_authorities(previous.ca_bundle) if previous is not None else [])
        if old.not_valid_after_utc > now
    ]
    bundle = b"".join(_pem(c) for c in [authority, *kept])
    return renew(
        CertificateSet(ca_bundle=bundle, ca_key=_key_pem(key), cert=b"", key=b""),
        dns_names,
        lifetimes,
        now,
    )


def renew(
    current: CertificateSet, dns_names: list[str], lifetimes: Lifetimes, now: dt.datetime
) -> CertificateSet:
    """A new serving certificate from the current CA; the bundle as it is, less the CAs that
    have expired."""
    authority = _authorities(current.ca_bundle)[0]
    try:
        ca_key = serialization.load_pem_private_key(current.ca_key, password=None)
    except ValueError as exc:
        raise CertificateError(f"the CA key does not load: {exc}") from exc
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the CA key is not an EC key")
    key = _key()
    not_after = min(now + lifetimes.certificate, authority.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    live = [c for c in _authorities(current.ca_bundle) if c.not_valid_after_utc > now]
    return CertificateSet(
        ca_bundle=b"".join(_pem(c) for c in live),
        ca_key=current.ca_key,
        cert=_pem(certificate),
        key=_key_pem(key),
    )


def assess(
    current: CertificateSet, dns_names: list[str], lifetimes: Lifetimes, now: dt.datetime
) -> Need:
    """What `current` needs: nothing, a new serving certificate, or a new CA (and with it a
    new certificate). A set that does not load, whose parts do not belong together, or that
    names other hosts is replaced as a whole."""
    try:
        authority = _authorities(current.ca_bundle)[0]
        ca_key = serialization.load_pem_private_key(current.ca_key, password=None)
        certificate = x509.load_pem_x509_certificate(current.cert)
        key = serialization.load_pem_private_key(current.key, password=None)
    except (ValueError, CertificateError):
        return Need.NEW_AUTHORITY
    if ca_key.public_key() != authority.public_key():
        return Need.NEW_AUTHORITY
    if authority.not_valid_after_utc - now <= lifetimes.renew_before + lifetimes.certificate:
        # A certificate made now would not last its full term under this CA.
        return Need.NEW_AUTHORITY
    if key.public_key() != certificate.public_key():
        return Need.NEW_CERTIFICATE
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return Need.NEW_CERTIFICATE
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return Need.NEW_CERTIFICATE
    if sorted(names.value.get_values_for_type(x509.DNSName)) != sorted(dns_names):
        return Need.NEW_CERTIFICATE
    if certificate.not_valid_after_utc - now <= lifetimes.renew_before:
        return Need.NEW_CERTIFICATE
    if certificate.not_valid_before_utc > now:
        return Need.NEW_CERTIFICATE
    return Need.NOTHING


def expiry(pem: bytes) -> dt.datetime:
    """When the (first) certificate of `pem` expires."""
    try:
        return x509.load_pem_x509_certificate(pem).not_valid_after_utc
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc


def _authorities(bundle: bytes) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(bundle)
    except ValueError as exc:
        raise CertificateError(f"the CA bundle does not load: {exc}") from exc
    if not found:
        raise CertificateError("the CA bundle holds no certificate")
    return found
