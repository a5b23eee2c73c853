"""Keyed digests of Secret values: HMAC-SHA256 under a per-installation key kept out of the
database, so that a guessed password cannot be confirmed against the store offline.

The key is a file (`audit.secretDigestKeyFile`, in a cluster mounted from a Kubernetes
Secret) shared by the webhook and the reconciler: both must digest a value alike for the
webhook to recognise the Secrets the reconciler applies. Digests say their scheme
(`hmac-sha256:`), so the plain `sha256:` digests of older records never match them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.audit.errors import AuditError
from gatekeeper.canonical import canonical_json
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "hmac-sha256:"
DEFAULT_NAME = "secret-digest.key"
MIN_KEY_BYTES = 32


class SecretKeyError(AuditError):
    """The Secret digest key cannot be read, made, or is too short."""


@dataclass(frozen=True)
class SecretDigester:
    """Digests values under one key; the key never leaves this object."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise SecretKeyError(f"the Secret digest key has fewer than {MIN_KEY_BYTES} bytes")

    @classmethod
    def ephemeral(cls) -> SecretDigester:
        """A key of this process only: its digests match nothing another process makes."""
        return cls(secrets.token_bytes(MIN_KEY_BYTES))

    def digest(self, value: Any) -> str:
        """`hmac-sha256:<hex>` of the text itself for strings, of canonical JSON otherwise."""
        try:
            raw = value.encode("utf-8") if isinstance(value, str) else canonical_json(value)
        except UnicodeEncodeError as exc:  # a lone surrogate: no text a Secret can hold
            raise AuditError("a Secret value is not valid Unicode text; refused") from exc
        return PREFIX + hmac.new(self.key, raw, hashlib.sha256).hexdigest()


def load_key_file(path: Path) -> SecretDigester:
    """The key in `path`: its bytes, trailing white space left out (`openssl rand -hex 32`)."""
    try:
        key = path.read_bytes().rstrip()
    except OSError as exc:
        raise SecretKeyError(f"cannot read the Secret digest key {path}: {exc.strerror}") from exc
    if len(key) < MIN_KEY_BYTES:
        raise SecretKeyError(
            f"the Secret digest key {path} has {len(key)} bytes; at least {MIN_KEY_BYTES} are "
            "needed (make one with `openssl rand -hex 32`)"
        )
    return SecretDigester(key)


def digester_from_settings(settings: Settings) -> SecretDigester:
    """`audit.secretDigestKeyFile`, which must exist; when it is not set, `secret-digest.key`
    beside the config file, made (mode 0600) with a warning when missing."""
    configured = settings.audit.secret_digest_key_file
    if configured is not None:
        return load_key_file(configured)
    path = settings.config_dir / DEFAULT_NAME
    if not path.exists():
        _create(path)
    return load_key_file(path)


def write_key(path: Path) -> bool:
    """Make a new key file at `path` (mode 0600) unless one is there; True if it was made.

    `audit keygen` writes it beside the checkpoint key pair, so one Kubernetes Secret carries
    every key the webhook and the reconciler share.
    """
    if path.exists():
        return False
    _create(path, announce=False)
    return True


def _create(path: Path, *, announce: bool = True) -> None:
    """Write a new key whole under a hidden name, then link it: two processes starting at once
    end up with the same key, the first one linked."""
    hidden = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        descriptor = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(MIN_KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(hidden, path)
        except FileExistsError:
            return
        finally:
            hidden.unlink()
    except OSError as exc:
        raise SecretKeyError(
            f"audit.secretDigestKeyFile is not set and {path} cannot be created "
            f"({exc.strerror}); set it to a key file (in a cluster, one mounted from a Secret)"
        ) from exc
    if not announce:
        return
    log.warning(
        "audit.secretDigestKeyFile is not set: made a new Secret digest key %s. Every process "
        "that records or admits Secrets (webhook, reconciler) must use this same key",
        path,
    )
