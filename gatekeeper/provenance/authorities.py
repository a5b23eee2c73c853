"""Certificate authorities named by a trust policy: PEM roots, and Sigstore trusted roots."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from gatekeeper.provenance.x509trust import Authority


def pem_certificates(text: str, *, what: str = "roots") -> list[x509.Certificate]:
    """Every certificate of a PEM block; ValueError saying what is wrong otherwise."""
    if "PRIVATE KEY" in text:
        raise ValueError(f"{what} hold private key material; give certificates only")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise ValueError(f"{what}: not valid PEM certificates: {exc}") from exc
    for index, cert in enumerate(certs):
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            subject = cert.subject.rfc4514_string()
            raise ValueError(f"{what}: certificate {index} ({subject}) is not a CA certificate")
    return certs


def read_text(name: str, base: Path | None, *, what: str) -> str:
    """A file the trust policy names, relative to the policy's folder."""
    path = Path(name)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {name}: {exc.strerror}") from exc


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{what}: {value!r} is not an RFC 3339 time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def trusted_root_authorities(text: str, *, what: str = "trustedRoot") -> list[Authority]:
    """The certificate authorities (Fulcio) of a Sigstore trusted root (trusted_root.json).

    Each authority's chain lists the issuing certificate first and the root last; its
    `validFor` window bounds the signing times it vouches for. Transparency-log keys are not
    read: the log entry is not verified offline.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(
        document.get("certificateAuthorities"), list
    ):
        raise ValueError(f"{what}: a Sigstore trusted root with certificateAuthorities is expected")
    found: list[Authority] = []
    for index, entry in enumerate(document["certificateAuthorities"]):
        where = f"{what}: certificateAuthorities[{index}]"
        try:
            raw = [c["rawBytes"] for c in entry["certChain"]["certificates"]]
            chain = [x509.load_der_x509_certificate(base64.b64decode(r)) for r in raw]
        except (KeyError, TypeError, binascii.Error, ValueError) as exc:
            raise ValueError(f"{where}: no readable certChain.certificates") from exc
        if not chain:
            raise ValueError(f"{where}: the certificate chain is empty")
        window = entry.get("validFor") or {}
        found.append(
            Authority(
                roots=(chain[-1],),
                intermediates=tuple(chain[:-1]),
                valid_from=_time(window.get("start"), where),
                valid_until=_time(window.get("end"), where),
            )
        )
    if not found:
        raise ValueError(f"{what}: the trusted root lists no certificate authority")
    return found
