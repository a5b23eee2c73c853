"""Signature checks of a long range shared with a second process.

Checking a signature is most of the cost of verifying a range, and one Python process uses
one core. `SignaturePool` takes the commits of a range as they stream out of git and checks
them here, until the range proves long (`start_after` commits): it then starts a worker
process (`python -m gatekeeper.provenance.sigworker`) with the keyring's OpenPGP and SSH keys
and hands it batches of commits, never more than `in_flight` batches at a time, so that
both processes stay busy whatever the machine's load. The worker runs the same checkers
(`Keyring.verify`), so a verdict does not depend on which process made it.

Nothing depends on the worker: until it says it is ready, and after it fails or stops
answering, every commit is checked here, including the batches it had not answered. With
one CPU to use (the machine's, or a container's CPU limit below 1.5), none is started.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from gatekeeper.cpus import cores
from gatekeeper.provenance import sigworker
from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.signatures import Keyring
from gatekeeper.provenance.verdicts import SignatureFormat, SignatureVerdict

log = logging.getLogger(__name__)

# Below this many commits a range is checked in this process alone: starting the worker
# costs about 50 ms of the other core, about as much as 500 checks.
START_AFTER = 512
BATCH = 128
IN_FLIGHT = 2
# A batch is sent early once its commits reach this size, and a commit larger than
# MAX_SENT_BYTES (a huge message) is checked here: copies for the pipe stay small.
MAX_BATCH_BYTES = 4 << 20
MAX_SENT_BYTES = 1 << 20
# How long the end of a range waits for the worker's last answers before checking them here.
ANSWER_SECONDS = 30.0
# How long a worker told to stop may take before it is killed.
EXIT_SECONDS = 5.0

# Why workers cannot be used in this process (one never became ready), once known: later
# ranges then check everything here instead of starting worker after worker.
_unusable: list[str] = []
# The formats the worker checks; X.509 signatures need trust anchors it is not given.
_PORTABLE_FORMATS = frozenset({SignatureFormat.OPENPGP, SignatureFormat.SSH})

# (position, format, payload, signature, time) of one commit sent to the worker.
_Job = tuple[int, SignatureFormat, bytes, bytes, Any]


def worker_command() -> list[str]:
    """How to start a worker: `sigworker`, run by this process's Python."""
    return [sys.executable, "-m", sigworker.__name__]


@dataclass
class _Worker:
    """The worker process and what it has not answered yet."""

    process: subprocess.Popen[bytes]
    errors: IO[bytes]  # the worker's standard error, for the warning when it fails
    # Frames for the worker's stdin, written by the sender thread (None: close it), so that
    # a full pipe never holds up the range.
    outbox: queue.SimpleQueue[bytes | None] = field(default_factory=queue.SimpleQueue)
    unanswered: dict[int, list[_Job]] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)  # EOF or failure
    room: threading.Condition = field(default_factory=threading.Condition)
    failure: str | None = None


class SignaturePool:
    """Checks the signatures of a stream of commits, with a worker process for long ranges.

    `submit` each commit in turn, then `results` gives their verdicts in the same order.
    Use it as a context manager, so that the worker is stopped whatever happens.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        start_after: int | None = None,
        batch: int | None = None,
        in_flight: int | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._keyring = keyring
        self._start_after = START_AFTER if start_after is None else start_after
        self._batch_size = BATCH if batch is None else batch
        self._in_flight = IN_FLIGHT if in_flight is None else in_flight
        self._enabled = cores() > 1 if enabled is None else enabled
        self._verdicts: list[SignatureVerdict | None] = []
        self._batch: list[_Job] = []
        self._batch_bytes = 0
        self._next_batch = 0
        self._worker: _Worker | None = None
        self.checked_by_worker = 0

    def __enter__(self) -> SignaturePool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def submit(self, obj: SignedObject) -> None:
        position = len(self._verdicts)
        self._verdicts.append(None)
        if self._enabled and self._worker is None and position >= self._start_after:
            self._worker = self._start_worker()
        fmt = obj.format
        worker = self._worker
        if (
            worker is not None
            and fmt in _PORTABLE_FORMATS
            and obj.signature is not None
            and (size := len(obj.payload) + len(obj.signature)) <= MAX_SENT_BYTES
            and worker.ready.is_set()
            and not worker.done.is_set()
        ):
            self._batch.append((position, fmt, obj.payload, obj.signature, obj.time))
            self._batch_bytes += size
            if len(self._batch) < self._batch_size and self._batch_bytes < MAX_BATCH_BYTES:
                return
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            with worker.room:
                if len(worker.unanswered) < self._in_flight:
                    self._send(worker, batch)
                    return
            # The worker is busy: check this batch here instead of waiting for it.
            self._check_here(batch)
            return
        self._verdicts[position] = self._keyring.verify(obj)

    def results(self) -> list[SignatureVerdict]:
        """Every submitted commit's verdict, in submission order."""
        self._check_here(self._batch)
        self._batch, self._batch_bytes = [], 0
        worker = self._worker
        if worker is not None:
            with worker.room:
                worker.room.wait_for(
                    lambda: not worker.unanswered or worker.done.is_set(), timeout=ANSWER_SECONDS
                )
                left = [job for jobs in worker.unanswered.values() for job in jobs]
                worker.unanswered.clear()
            if left:
                log.warning(
                    "signature worker left %d checks unanswered (%s): checking them here",
                    len(left),
                    worker.failure or "timed out",
                )
                self._check_here(left)
        verdicts = [v for v in self._verdicts if v is not None]
        if len(verdicts) != len(self._verdicts):
            raise RuntimeError("a signature verdict is missing")  # a bug, never an input
        return verdicts

    def close(self) -> None:
        """Tell the worker to stop; its threads reap it (a worker that lingers is killed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.outbox.put(None)

    def _check_here(self, jobs: list[_Job]) -> None:
        verify = self._keyring.verify_parts
        for position, fmt, payload, signature, at in jobs:
            self._verdicts[position] = verify(fmt, payload, signature, at)

    def _send(self, worker: _Worker, jobs: list[_Job]) -> None:
        """Hand `jobs` to the worker (the caller holds `worker.room`)."""
        number = self._next_batch
        self._next_batch += 1
        worker.unanswered[number] = jobs
        worker.outbox.put(sigworker.frame((number, [(f, p, s, t) for _, f, p, s, t in jobs])))

    def _start_worker(self) -> _Worker | None:
        if _unusable:
            self._enabled = False
            return None
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the worker is reaped
        try:
            process = subprocess.Popen(
                worker_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                close_fds=True,
            )
        except OSError as exc:
            errors.close()
            _give_up(f"cannot start a signature worker: {exc}")
            self._enabled = False
            return None
        worker = _Worker(process, errors)
        worker.outbox.put(sigworker.frame(self._keyring.portable()))
        for run, name in (
            (self._write_requests, "signature-worker-in"),
            (self._read_answers, "signature-worker-out"),
        ):
            threading.Thread(target=run, args=(worker,), name=name, daemon=True).start()
        return worker

    @staticmethod
    def _write_requests(worker: _Worker) -> None:
        stdin = worker.process.stdin
        assert stdin is not None
        try:
            while (frame := worker.outbox.get()) is not None:
                stdin.write(frame)
                stdin.flush()
        except OSError as exc:
            # What was not delivered stays unanswered: `results` checks it here.
            with worker.room:
                worker.failure = worker.failure or f"cannot reach the worker: {exc}"
                worker.done.set()
                worker.room.notify_all()
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
            try:
                worker.process.wait(timeout=EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def _read_answers(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        try:
            if sigworker.read_frame(stdout) != sigworker.READY:
                raise ValueError("the worker did not say it is ready")
            worker.ready.set()
            while True:
                number, verdicts = sigworker.read_frame(stdout)
                with worker.room:
                    jobs = worker.unanswered.pop(number, None)
                    if jobs is None:  # `results` stopped waiting and checked it here
                        continue
                    if len(jobs) != len(verdicts):
                        raise ValueError(f"batch {number}: {len(verdicts)} verdicts")
                    for job, verdict in zip(jobs, verdicts, strict=True):
                        if not isinstance(verdict, SignatureVerdict):
                            raise ValueError(f"batch {number}: not a verdict")
                        self._verdicts[job[0]] = verdict
                    self.checked_by_worker += len(jobs)
                    worker.room.notify_all()
        except EOFError:
            worker.failure = worker.failure or "the worker stopped"
        except (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as exc:
            worker.failure = f"the worker answered wrongly: {exc}"
            log.warning("signature worker: %s", worker.failure)
            worker.process.kill()
        finally:
            with worker.room:
                worker.done.set()
                worker.room.notify_all()
            stdout.close()
            # Only this thread knows whether "ready" came before the end of the output.
            if not worker.ready.is_set():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=EXIT_SECONDS)  # its error output is complete
                _give_up(f"a signature worker stopped before it was ready: {_tail(worker.errors)}")
            worker.errors.close()


def _tail(errors: IO[bytes], size: int = 400) -> str:
    """The end of what a worker wrote to its standard error, on one line."""
    try:
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return "(its error output is unreadable)"
    return " | ".join(text.strip().splitlines())[-size:] or "(it wrote nothing)"


def _give_up(reason: str) -> None:
    """Use no more workers in this process, and say why once."""
    if not _unusable:
        _unusable.append(reason)
        log.warning("%s; signatures are checked in this process alone from now on", reason)
