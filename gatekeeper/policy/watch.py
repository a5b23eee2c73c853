"""Following policy files: a changed set is loaded while the service runs, a broken one is not.

Security teams change policies in place (a ConfigMap mounted as files, a Git checkout), and
the webhook and the reconciler are expected to follow without a restart. Every
`policies.reloadInterval` the watcher compares the files' sizes and modification times with
the last look; when they changed it loads the set again. A set that loads replaces the active
one and is recorded as `policy.reloaded`; one that does not is recorded as
`policy.reload_failed`, and the last good set stays active.

With Git policy sources (`policies.sources`) each look first moves the sources to their new
heads that the trust policy accepts; a head it refuses is recorded as `policy.rejected` and
never loaded. The records name the sources' commits and signers (`origins`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent
from gatekeeper.errors import GatekeeperError
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.loader import PolicyLoader
from gatekeeper.policy.policyset import PolicySet, policy_files, policy_set_version
from gatekeeper.policy.sources import POLICY_LOADED, POLICY_REJECTED

log = logging.getLogger(__name__)

Outcome = Literal["unchanged", "reloaded", "failed"]
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(paths: Sequence[Path]) -> Fingerprint:
    """Path, size and modification time of every policy file (symbolic links followed)."""
    seen = []
    for file in policy_files(paths):
        try:
            status = file.stat()
        except OSError:  # removed between listing and looking: the next look sees it gone
            continue
        seen.append((str(file), status.st_size, status.st_mtime_ns))
    return tuple(seen)


class PolicyWatcher:
    """Reloads `evaluator`'s policy set when its files change; records what happened.

    `record` receives the audit events; `component` (`webhook`, `reconciler`) goes into
    their payload, since every process that follows the files records its own reload.
    """

    def __init__(
        self,
        evaluator: PolicyEvaluator,
        *,
        record: Callable[[NewEvent], object] | None,
        component: str,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        loader: PolicyLoader | None = None,
    ) -> None:
        self._evaluator = evaluator
        # The loader the evaluator was built with (`build_evaluator`), else its folders.
        found = loader or getattr(evaluator, "loader", None)
        self._loader = found or PolicyLoader([Path(s) for s in evaluator.policy_set.sources])
        self._record = record
        self._component = component
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # The files the active set was read from: a change made after they were read and
        # before this watcher began is a change like any later one.
        loaded = self._loader.loaded_fingerprint
        self._seen = loaded if loaded is not None else self._loader.fingerprint()
        self._reported: Fingerprint | None = None  # the files whose failure was recorded
        self._checked = clock()
        self._announced = False

    def check_if_due(self) -> Outcome:
        """`check`, unless the last look was less than `interval` seconds ago."""
        self._announce()
        if self.interval <= 0 or self._clock() - self._checked < self.interval:
            return "unchanged"
        return self.check()

    def _announce(self) -> None:
        """Record once which commits the set loaded at start holds (`policy.loaded`), so that
        a restarted process verifies the sources' history from there."""
        if self._announced:
            return
        self._announced = True
        policy_set = self._evaluator.policy_set
        if any(o.kind == "git" for o in policy_set.origins):
            self._note(POLICY_LOADED, {"version": policy_set_version(policy_set),
                                       **_origins(policy_set)})  # fmt: skip

    def check(self) -> Outcome:
        """Look at the files now; reload the set if they changed since the last look."""
        with self._lock:
            self._announce()
            self._checked = self._clock()
            try:
                rejections = self._loader.refresh()
            except GatekeeperError as exc:  # the active set stays; the next look tries again
                log.error("policy sources not refreshed: %s", exc)
                rejections = []
            for rejection in rejections:
                self._note(
                    POLICY_REJECTED,
                    {
                        **rejection.payload(),
                        "active_version": policy_set_version(self._evaluator.policy_set),
                    },
                    source=rejection.name,
                    commit=rejection.commit,
                )
            current = self._loader.fingerprint()
            if current == self._seen:
                return "unchanged"
            previous = policy_set_version(self._evaluator.policy_set)
            try:
                self._evaluator.replace(self._loader.load())
            except GatekeeperError as exc:
                # A set that does not load is not tried again until its files change; an
                # engine that could not take it (an OPA server away) is, at the next look.
                if isinstance(exc, PolicyLoadError):
                    self._seen = current
                log.error("policy files changed but were not loaded; keeping %s: %s", previous, exc)
                if self._reported != current:  # once per change, however many tries
                    self._reported = current
                    self._note(
                        events.POLICY_RELOAD_FAILED,
                        {"error": str(exc), "active_version": previous},
                    )
                return "failed"
            self._seen = current
            version = policy_set_version(self._evaluator.policy_set)
            if version == previous:
                return "unchanged"
            log.info("policy set reloaded: %s (was %s)", version, previous)
            self._note(
                events.POLICY_RELOADED,
                {
                    "version": version,
                    "previous_version": previous,
                    "policies": self._evaluator.policy_set.size,
                    # Template kinds (`*`: the plain policies) regorus refused, run on OPA.
                    "engine_fallbacks": dict(self._evaluator.fallbacks),
                    **_origins(self._evaluator.policy_set),
                },
            )
            return "reloaded"

    def _note(
        self,
        kind: str,
        details: dict[str, object],
        *,
        source: str | None = None,
        commit: str | None = None,
    ) -> None:
        if self._record is None:
            return
        payload = {
            "component": self._component,
            "process": os.getpid(),
            "sources": [str(path) for path in self._loader.paths],
            **details,
        }
        event = NewEvent(
            kind=kind,
            actor=f"gatekeeper-{self._component}",
            source=source,
            commit=commit,
            payload=payload,
        )
        try:
            self._record(event)
        except Exception as exc:  # the reload stands; only its record is missing
            log.error("cannot record %s: %s", kind, exc)


def _origins(policy_set: PolicySet) -> dict[str, object]:
    """The Git commits (with their signers) and bundles a set came from, for its records."""
    if not policy_set.origins:
        return {}
    return {"origins": [origin.describe() for origin in policy_set.origins]}
