"""Periodic checkpoints: sign the chain head at an interval while a service runs."""

from __future__ import annotations

import logging
import threading

from gatekeeper.audit.errors import AuditError, SigningKeyError
from gatekeeper.audit.signing import Signer, Verifier, load_signer, load_verifier
from gatekeeper.audit.store import AuditStore, Checkpoint
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)


def signer_from_settings(settings: Settings) -> Signer:
    """The checkpoint key: inline from `audit.signingKey` first, else `audit.signingKeyFile`."""
    inline = settings.audit.signing_key
    if inline is not None:
        return load_signer(pem=inline.get_secret_value().encode("utf-8"))
    return load_signer(path=settings.resolve(settings.audit.signing_key_file))


def verifier_from_settings(settings: Settings) -> Verifier | None:
    """The checkpoint public key: `audit.publicKeyFile`, else the signing key's public half.

    None when neither is configured; an unreadable or wrong configured file still raises.
    """
    public = settings.resolve(settings.audit.public_key_file)
    if public is not None:
        return load_verifier(public)
    try:
        return Verifier(signer_from_settings(settings).public_key)
    except SigningKeyError:
        return None


class CheckpointScheduler:
    """Signs a checkpoint every `interval` seconds when the log has grown since the last one."""

    def __init__(self, store: AuditStore, signer: Signer, *, interval: float) -> None:
        if interval <= 0:
            raise AuditError("the checkpoint interval must be positive")
        self._store = store
        self._signer = signer
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_seq: int | None = None

    def tick(self) -> Checkpoint | None:
        """Sign now if the head moved since the last checkpoint this scheduler saw."""
        if self._last_seq is None:
            existing = self._store.checkpoints()
            self._last_seq = existing[-1].seq if existing else 0
        seq, _ = self._store.head()
        if seq == self._last_seq:
            return None
        checkpoint = self._store.checkpoint(self._signer)
        self._last_seq = checkpoint.seq
        return checkpoint

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop, signing a last checkpoint so a clean shutdown leaves the head covered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 10)
            self._thread = None
        self._safe_tick()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._safe_tick()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except AuditError as exc:
            # A failed checkpoint loses nothing: the next tick signs the newer head.
            log.warning("audit checkpoint failed: %s", exc)
