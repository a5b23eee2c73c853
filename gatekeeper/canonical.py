"""Canonical JSON (RFC 8785: sorted keys, no insignificant whitespace, UTF-8) and its digests."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from gatekeeper.errors import GatekeeperError


class NotCanonicalisable(GatekeeperError):
    """The value holds something JSON cannot represent exactly (a float NaN, bytes, a set...)."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value`; the same value always gives the same bytes."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise NotCanonicalisable(f"cannot serialise to canonical JSON: {exc}") from exc


def sha256_hex(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def manifest_digest(manifest: Any) -> str:
    """`sha256:<hex>` of a manifest's canonical JSON, as DESIGN section 5 defines it."""
    return f"sha256:{sha256_hex(manifest)}"
