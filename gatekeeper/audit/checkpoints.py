"""Periodic checkpoints: sign the chain head at an interval while a service runs, and keep
each one in the witness too when one is configured."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from gatekeeper.audit.errors import AuditError, SigningKeyError, WitnessConflict
from gatekeeper.audit.freshness import Freshness
from gatekeeper.audit.signing import Signer, Verifier, load_signer, load_verifier
from gatekeeper.audit.store import AuditStore, Checkpoint
from gatekeeper.audit.witness import Witness, witness_from_settings
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)


def signer_from_settings(settings: Settings) -> Signer:
    """The checkpoint key: inline from `audit.signingKey` first, else `audit.signingKeyFile`."""
    inline = settings.audit.signing_key
    if inline is not None:
        return load_signer(pem=inline.get_secret_value().encode("utf-8"))
    return load_signer(path=settings.audit.signing_key_file)


def verifier_from_settings(settings: Settings) -> Verifier | None:
    """The checkpoint public key: `audit.publicKeyFile`, else the signing key's public half.

    None when neither is configured; an unreadable or wrong configured file still raises.
    Either way checkpoints are configured, so the verifier carries the freshness rule.
    """
    public = settings.audit.public_key_file
    if public is not None:
        key = load_verifier(public).public_key
    else:
        try:
            key = signer_from_settings(settings).public_key
        except SigningKeyError:
            return None
    return Verifier(key, freshness=freshness_from_settings(settings))


def freshness_from_settings(settings: Settings) -> Freshness:
    """How fresh the newest checkpoint must be: `audit.checkpointMaxAge` (three intervals
    when unset) and `audit.checkpointMaxUncovered`."""
    audit = settings.audit
    return Freshness(
        max_age=audit.effective_checkpoint_max_age(),
        max_uncovered=audit.checkpoint_max_uncovered,
    )


def scheduler_from_settings(store: AuditStore, settings: Settings) -> CheckpointScheduler | None:
    """A scheduler at `audit.checkpointInterval` when a signing key is configured, else None;
    it writes to the `audit.witness` when there is one.

    A configured key that cannot be loaded raises, so a service does not run unsigned by
    mistake; so does a witness that is misconfigured (one that cannot be reached does not).
    """
    audit = settings.audit
    if audit.signing_key is None and audit.signing_key_file is None:
        return None
    signer = signer_from_settings(settings)
    return CheckpointScheduler(
        store,
        signer,
        interval=audit.checkpoint_interval,
        witness=witness_from_settings(settings),
    )


class CheckpointScheduler:
    """Signs a checkpoint every `interval` seconds when the log has grown since the last one.

    Several services may run one on the same store (the webhook's workers, the reconciler):
    each looks at the newest checkpoint in the store, whoever signed it, and signs only when
    it is older than half the interval and behind the head, so together they sign about one
    checkpoint per interval.

    Each checkpoint it signs is then written to the witness, if any. A witness that fails is
    logged and counted (`witness_failures`) and never stops the service nor undoes the
    checkpoint, which is in the database already; the newest checkpoint not yet witnessed is
    tried again at each tick until the witness takes it or a newer checkpoint replaces it.
    Only the newest matters: a checkpoint covers every record up to its own.
    """

    def __init__(
        self,
        store: AuditStore,
        signer: Signer,
        *,
        interval: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        witness: Witness | None = None,
    ) -> None:
        if interval <= 0:
            raise AuditError("the checkpoint interval must be positive")
        self._store = store
        self._signer = signer
        self._interval = interval
        self._clock = clock
        self._witness = witness
        self._unwitnessed: Checkpoint | None = None
        self._witness_failures = 0
        self._witness_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Until the store holds a checkpoint, look every second: `audit verify` fails while
        # records exist that none covers, so a new installation signs its first at once.
        self._first_signed = False

    @property
    def witness_failures(self) -> int:
        """How many writes to the witness have failed since the scheduler was made."""
        return self._witness_failures

    @property
    def unwitnessed(self) -> Checkpoint | None:
        """The newest checkpoint signed here that the witness has not taken yet."""
        return self._unwitnessed

    def tick(self, *, force: bool = False) -> Checkpoint | None:
        """Sign now if the head moved past the newest checkpoint and that one is old enough
        (or, with `force`, whatever its age); then write it to the witness."""
        made = self._sign(force=force)
        self._witness_newest(made)
        return made

    def _sign(self, *, force: bool) -> Checkpoint | None:
        seq, _ = self._store.head()
        if seq == 0:
            return None
        last = self._store.last_checkpoint()
        self._first_signed = last is not None
        if last is not None and last.seq >= seq:
            return None
        if last is not None and not force:
            age = (self._clock() - last.time).total_seconds()
            if age < self._interval / 2:
                return None
        made = self._store.checkpoint(self._signer)
        self._first_signed = True
        return made

    def _witness_newest(self, made: Checkpoint | None) -> None:
        with self._witness_lock:
            if made is not None:
                self._unwitnessed = made
            checkpoint = self._unwitnessed
            if self._witness is None or checkpoint is None:
                self._unwitnessed = None
                return
            try:
                self._witness.write(checkpoint)
            except WitnessConflict as exc:
                # Trying again cannot help, and the message says what it may mean.
                self._witness_failures += 1
                self._unwitnessed = None
                log.error("audit witness %s: %s", self._witness.location, exc)
                return
            except Exception as exc:
                # Whatever goes wrong with the witness, the service and its checkpoints go on.
                self._witness_failures += 1
                log.warning(
                    "audit checkpoint %d (record %d) is in the database but not yet in the "
                    "witness %s (will try again): %s",
                    checkpoint.id,
                    checkpoint.seq,
                    self._witness.location,
                    exc,
                    exc_info=not isinstance(exc, AuditError),
                )
                return
            self._unwitnessed = None

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
        self._safe_tick(force=True)
        if self._witness is not None:
            self._witness.close()

    def _run(self) -> None:
        while not self._stop.wait(self._pause()):
            self._safe_tick()

    def _pause(self) -> float:
        return self._interval if self._first_signed else min(self._interval, 1.0)

    def _safe_tick(self, *, force: bool = False) -> None:
        try:
            self.tick(force=force)
        except AuditError as exc:
            # A failed checkpoint loses nothing: the next tick signs the newer head.
            log.warning("audit checkpoint failed: %s", exc)
        except Exception:
            # Whatever else goes wrong, the scheduler must live on to sign the next one.
            log.exception("audit checkpoint failed unexpectedly")
