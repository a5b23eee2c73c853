"""The reconcile shell: fetches, verifies, renders and lists, lets the core decide, then acts.

Every decision of a pass is a pure function: `intent` picks the commit and the gates it may
skip, `checks` judges it (run by `gates` between its I/O steps), `core` plans the apply, drift
and prune and accounts for what was done, `results` reports passes that apply nothing, and
`healthcheck` judges the synced commit. This module does the I/O between them and writes
exactly the records they return.

No commit can stop the loop: anything raised while a new commit is read, rendered or checked
rejects that commit (`sync.rejected`, reason `error`), and anything else a pass raises fails
that pass (`sync.failed`); both are logged with their traceback, and the other sources go on.
Only the objects this source applied (the ledger has them) are ever pruned: an object that
merely carries its label and annotations is left alone.

Asked to stop (the `stop` event: SIGTERM or Ctrl-C), a pass finishes the reads it is doing and
applies nothing more: an apply under way ends after the objects already sent, and is recorded
as `sync.failed` naming what was and was not applied, as for an API failure; the loop then
ends and gives the Lease up.
"""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.ledger import Ledger
from gatekeeper.errors import GatekeeperError
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject, VerifiedCommit
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.policy.policyset import PolicySet, policy_set_version
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.provenance.errors import HistoryRewritten
from gatekeeper.reconcile import core, depends, healthcheck, intent, results, witnesses
from gatekeeper.reconcile import state as state_mod
from gatekeeper.reconcile.applier import Applier, KubePort
from gatekeeper.reconcile.checks import Rejected
from gatekeeper.reconcile.desired import Desired
from gatekeeper.reconcile.errors import (
    ApplyFailed,
    NotLeader,
    ReconcileError,
    RollbackRefused,
    SourceUnavailable,
)
from gatekeeper.reconcile.gates import Gates, PolicyPort
from gatekeeper.reconcile.gitsource import GitPort
from gatekeeper.reconcile.helmchart import Capabilities, capabilities_from
from gatekeeper.reconcile.history import AdmittedChange
from gatekeeper.reconcile.leader import LeaderElector
from gatekeeper.reconcile.results import Outcome, PassResult
from gatekeeper.reconcile.state import EventStore
from gatekeeper.settings import ReconcilerLimits, SourceSettings

__all__ = ["LedgerPort", "Outcome", "PassResult", "Reconciler"]

log = logging.getLogger(__name__)
_IDLE = 30.0  # seconds between looks when there is no source


class LedgerPort(Protocol):
    """The provenance ledger as the reconciler uses it (`audit.ledger.Ledger`)."""

    def record_commit(
        self,
        source: str,
        commit: str,
        *,
        signer: str | None = None,
        key_id: str | None = None,
        format: str | None = None,
    ) -> None: ...

    def record_desired(self, source: str, commit: str, objects: Iterable[DesiredObject]) -> int: ...

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None: ...

    def digests(self, source: str, commit: str) -> dict[ObjectKey, str]: ...

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None: ...


class Reconciler:
    """Brings each source's verified, policy-compliant commit into the cluster."""

    def __init__(
        self,
        *,
        git: Mapping[str, GitPort],
        kube: KubePort,
        engine: PolicyPort,
        store: EventStore,
        sources: Sequence[SourceSettings],
        ledger: LedgerPort | None = None,
        actor: str = "gatekeeper-reconciler",
        identity: str = "",
        elector: LeaderElector | None = None,
        workers: int = 4,
        work_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 0.5,
        policy_watch: PolicyWatcher | None = None,
        inventory_kinds: Sequence[tuple[str, str]] = (),
        limits: ReconcilerLimits | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._git = git
        self._kube = kube
        self._engine = engine
        self._store = store
        # Dependencies first (`dependsOn`), so one pass over all sources can sync a chain.
        self._sources = {source.name: source for source in depends.order(sources)}
        if ledger is None:
            from gatekeeper.audit.store import AuditStore

            if not isinstance(store, AuditStore):
                raise TypeError("a ledger is needed when the store is not an AuditStore")
            ledger = Ledger(store)
        self._ledger = ledger
        self.actor = actor
        self._identity = identity or actor
        self._elector = elector
        self._workers = workers
        self._work_dir = work_dir or Path(tempfile.gettempdir())
        self._clock = clock
        self._retry_delay = retry_delay
        self._policy_watch = policy_watch
        self._inventory_kinds = tuple(inventory_kinds)
        self._limits = limits or ReconcilerLimits()
        self._policy_versions: tuple[PolicySet, str] | None = None
        self._capability_cache: tuple[float, Capabilities] | None = None
        self._cache: dict[str, Desired] = {}
        self._stop = stop if stop is not None else threading.Event()
        # Sources whose remote is out of reach, and why: an outage is recorded once.
        self._outages: dict[str, str] = {}
        # Synced commits the settings now render unlike their ledger rows (commit, why), and
        # the message last recorded for each source: recorded once too.
        self._unvouched: dict[str, tuple[str, str]] = {}
        self._unvouched_noted: dict[str, str] = {}
        # Sources a push receiver asked to pass now, and the event that wakes the loop.
        self._triggered: set[str] = set()
        self._trigger_lock = threading.Lock()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply")
        self._applier = Applier(
            kube=kube,
            pool=self._pool,
            check_leader=self._check_leader,
            retry_delay=retry_delay,
            stopping=self.stopping,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    @property
    def elector(self) -> LeaderElector | None:
        return self._elector

    @property
    def sources(self) -> list[SourceSettings]:
        return list(self._sources.values())

    def source(self, name: str) -> SourceSettings:
        try:
            return self._sources[name]
        except KeyError:
            raise ReconcileError(f"no source named {name!r} in the configuration") from None

    # -- passes ------------------------------------------------------------------------------

    def run_once(self) -> list[PassResult]:
        """One pass over every source (those not begun when a stop is asked for are skipped)."""
        return [self.reconcile(name) for name in self._sources if not self.stopping()]

    def stopping(self) -> bool:
        """Whether a stop was asked for: nothing more is applied, the loop ends."""
        return self._stop.is_set()

    def trigger(self, names: Iterable[str]) -> None:
        """Pass the sources `names` as soon as the loop is free (a push receiver's call)."""
        with self._trigger_lock:
            self._triggered.update(name for name in names if name in self._sources)
        self._wake.set()

    def _take_triggered(self) -> set[str]:
        self._wake.clear()
        with self._trigger_lock:
            names, self._triggered = self._triggered, set()
        return names

    def _sleep(self, stop: threading.Event, seconds: float) -> None:
        """Wait `seconds`, or less when `stop` is set or a source is triggered."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and not self._wake.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(min(left, 0.2))

    def run(self, stop: threading.Event | None = None, *, jitter: float = 0.1) -> None:
        """Reconcile every source at its interval (with jitter) until `stop` is set (default:
        the reconciler's own); setting it also aborts an apply under way."""
        if stop is not None:
            self._stop = stop
        stop = self._stop
        due = dict.fromkeys(self._sources, 0.0)
        failures = dict.fromkeys(self._sources, 0)
        leading: bool | None = None
        try:
            while not stop.is_set():
                if self._elector is not None:
                    now_leading = self._elector.try_acquire()
                    if now_leading != leading:
                        leading = now_leading
                        log.info(
                            "%s: %s",
                            self._elector.identity,
                            "leading" if leading else "standby, another replica holds the Lease",
                        )
                    if not leading:
                        stop.wait(max(0.2, self._elector.duration / 4))
                        continue
                self._follow_policies()
                for name in self._take_triggered():
                    due[name] = 0.0
                now = time.monotonic()
                for name, when in sorted(due.items(), key=lambda item: item[1]):
                    if when > now or stop.is_set():
                        continue
                    source = self._sources[name]
                    result = self._reconcile_guarded(name)
                    log.info("%s: %s %s", name, result.outcome, result.message)
                    if result.outcome == "failed":
                        failures[name] += 1
                        delay = min(source.interval, 2.0 ** min(failures[name], 8))
                    elif result.outcome == "waiting":  # look again soon for its dependencies
                        delay = min(source.interval, 5.0)
                    else:
                        failures[name] = 0
                        delay = source.interval * (1 + random.uniform(-jitter, jitter))  # noqa: S311
                    due[name] = time.monotonic() + delay
                # With no sources, the loop only keeps the Lease (and what runs beside it).
                wait = min(due.values(), default=time.monotonic() + _IDLE) - time.monotonic()
                if self._elector is not None:
                    wait = min(wait, self._elector.duration / 3)
                self._sleep(stop, max(0.05, wait))
        finally:
            if self._elector is not None:
                self._elector.release()

    def _witnesses(self, key: ObjectKey, after: int) -> list[AdmittedChange]:
        try:
            return witnesses.admitted_changes(
                self._store, str(key), after=after, reconciler=self._identity
            )
        except GatekeeperError as exc:  # the drift is recorded all the same, without names
            log.warning("cannot read who changed %s: %s", key, exc)
            return []

    def _follow_policies(self) -> None:
        if self._policy_watch is None:
            return
        try:
            self._policy_watch.check_if_due()
        except Exception:  # a failed look at the files must not stop the loop
            log.exception("checking the policy files failed")

    def _check_leader(self) -> None:
        if self._elector is not None and not self._elector.renew_if_due():
            raise NotLeader(f"{self._elector.identity} does not hold the Lease")

    def reconcile(self, name: str) -> PassResult:
        """One pass for one source; never raises for a rejected commit, an API failure, or
        anything else that goes wrong in the pass (`KeyboardInterrupt` and `SystemExit`
        are not caught)."""
        source = self.source(name)
        try:
            self._check_leader()
            return self._reconcile(source)
        except NotLeader as exc:
            return PassResult(name, "standby", None, message=str(exc))
        except SourceUnavailable as exc:
            return self._unavailable(name, exc)
        except GatekeeperError as exc:
            return self._failed_pass(name, str(exc))
        except Exception as exc:
            log.exception("%s: the pass broke off", name)
            return self._failed_pass(name, f"the pass broke off: {_describe(exc)}")

    def _reconcile_guarded(self, name: str) -> PassResult:
        """`reconcile` for the loop: even a failure to record a failure leaves it running."""
        try:
            return self.reconcile(name)
        except Exception as exc:
            log.exception("%s: the pass broke off and could not be recorded", name)
            return PassResult(name, "failed", None, message=_describe(exc))

    def _unavailable(self, name: str, exc: SourceUnavailable) -> PassResult:
        """A remote out of reach is recorded once per outage (`sync.failed`, stage `fetch`),
        and again only when the reason changes; meanwhile it is logged."""
        return self._failed_once(
            self._outages, name, exc.reason, str(exc), stage="fetch", reason=exc.reason
        )

    def _failed_once(
        self,
        noted: dict[str, str],
        name: str,
        cause: str,
        message: str,
        *,
        stage: str,
        reason: str,
    ) -> PassResult:
        """A failure that lasts is recorded once (`sync.failed`), and again only when its
        `cause` changes (`noted` keeps the last cause recorded per source); meanwhile each
        pass logs it."""
        if noted.get(name) == cause:
            log.warning("%s: still failing: %s", name, message)
            return PassResult(name, "failed", None, message=message)
        result = self._failed_pass(name, message, stage=stage, reason=reason)
        noted[name] = cause
        return result

    def _failed_pass(
        self, name: str, error: str, *, stage: str = "pass", reason: str | None = None
    ) -> PassResult:
        """Record a pass that could not finish; the store may be what failed, so only log then."""
        commit: str | None = None
        try:
            commit = state_mod.load(self._store, name).synced_commit
        except GatekeeperError as exc:
            log.error("%s: cannot read the source's state (%s): %s", name, error, exc)
            return PassResult(name, "failed", commit, message=error)
        record, result = results.broken(
            name, commit, actor=self.actor, error=error, stage=stage, reason=reason
        )
        try:
            self._record([record])
        except GatekeeperError as exc:
            log.error("%s: cannot record the failed pass (%s): %s", name, error, exc)
        return result

    def _gates(self, source: SourceSettings) -> Gates:
        return Gates(
            source=source,
            git=self._git[source.name],
            kube=self._kube,
            engine=self._engine,
            identity=self._identity,
            work_dir=self._work_dir,
            inventory_kinds=self._inventory_kinds,
            policy_version=self._version_of,
            limits=self._limits,
            capabilities=self._capabilities,
        )

    def _capabilities(self) -> Capabilities | None:
        """The cluster's version and API versions for Helm's `.Capabilities`, asked at most
        every five minutes; None (Helm's defaults) when the client cannot ask."""
        cached = self._capability_cache
        if cached is not None and time.monotonic() - cached[0] < 300:
            return cached[1]
        request = getattr(self._kube, "request", None)
        if request is None:
            return None
        found = capabilities_from([request("GET", p) for p in ("/version", "/api", "/apis")])
        self._capability_cache = (time.monotonic(), found)
        return found

    def _waiting(self, source: SourceSettings) -> str | None:
        """Why `source` must wait for the sources it depends on, or None."""
        reasons: dict[str, str] = {}
        for needed in source.depends_on:
            applied = state_mod.latest(self._store, needed, events.SYNC_APPLIED)
            judged = state_mod.latest(
                self._store,
                needed,
                state_mod.SYNC_HEALTHY,
                state_mod.SYNC_UNHEALTHY,
                events.ROLLBACK,
            )
            reason = depends.not_ready(needed, applied, judged)
            if reason is not None:
                reasons[needed] = reason
        return depends.waiting_message(source.name, reasons) if reasons else None

    def _reconcile(self, source: SourceSettings) -> PassResult:
        name = source.name
        waiting = self._waiting(source)
        if waiting is not None:
            return PassResult(name, "waiting", None, message=waiting)
        state = state_mod.load(self._store, name)
        head = self._git[name].fetch()
        if self._outages.pop(name, None) is not None:
            log.info("%s: the remote answers again", name)
        version = self._policy_version()
        tag = self._git[name].tag
        target = intent.choose(state, head=head, policy_set_version=version, tag=tag)
        desired: Desired | None = None
        reasons: Sequence[Mapping[str, Any]] = ()
        if isinstance(target, intent.Check):
            try:
                desired = self._prepare_new(source, target)
            except (Rejected, _Broken) as exc:
                reasons = exc.reasons
                self._record(
                    results.rejection(
                        source=name,
                        commit=target.commit,
                        since=target.since,
                        reasons=reasons,
                        actor=self.actor,
                        policy_set_version=version,
                        tag=tag if target.commit == head else None,
                    )
                )
        elif isinstance(target, intent.Recall):
            reasons = target.reasons
        if desired is None:
            if state.synced_commit is None or (reasons and self._lost(name, state.synced_commit)):
                return results.rejected(name, target.commit, reasons, kept=None)
            try:
                desired = self._prepare_synced(source, state)
            except _RenderingChanged as exc:
                failed = self._rendering_changed(name, str(exc))
                return (
                    results.rejected(name, target.commit, reasons, kept=None) if reasons else failed
                )
        result = self._converge(source, desired, state=state, purpose=intent.Sync())
        if reasons:
            return results.rejected(name, target.commit, reasons, kept=result)
        return result

    def _lost(self, name: str, commit: str) -> bool:
        """Whether the source's mirror lacks `commit`: after a force-push a fresh mirror never
        gets the synced commit, and a collected repository loses it. It cannot be rendered
        again then, so its drift is not watched (the rejection says why)."""
        try:
            self._git[name].resolve(commit)
        except ReconcileError:
            log.warning("%s: the synced commit %s is not in the repository", name, commit[:12])
            return True
        return False

    def _policy_version(self) -> str:
        return self._version_of(self._engine.policy_set)

    def _version_of(self, policy_set: PolicySet) -> str:
        if self._policy_versions is None or self._policy_versions[0] is not policy_set:
            self._policy_versions = (policy_set, policy_set_version(policy_set))
        return self._policy_versions[1]

    def _prepare_new(self, source: SourceSettings, target: intent.Check) -> Desired:
        try:
            verdict = self._git[source.name].verify(since=target.since, target=target.commit)
            desired = self._gates(source).prepare(target.commit, provenance=verdict)
        except HistoryRewritten as exc:
            found = intent.rewritten(synced=exc.since, head=target.commit, missing=exc.missing)
            raise Rejected([found]) from exc
        except GatekeeperError:
            raise  # a rejection, or the cluster, the store or the engine failing: as ever
        except Exception as exc:
            # Not one of ours: the commit's content made reading, rendering or checking it
            # fail in a way nobody foresaw. It is refused, once, like any bad commit.
            log.exception("%s: checking commit %s failed", source.name, target.commit[:12])
            raise _Broken(target.commit, exc) from exc
        self._ledger.record_commit(
            source.name,
            target.commit,
            signer=desired.signature.signer,
            key_id=desired.signature.key_id,
            format=desired.signature.format,
        )
        self._ledger.record_desired(source.name, target.commit, desired.objects)
        self._cache[source.name] = desired
        return desired

    def _prepare_synced(self, source: SourceSettings, state: state_mod.SourceState) -> Desired:
        """The synced commit's objects again, to compare with the cluster. Its gates ran when
        it was synced; rendering it again skips them, by name, and records of applies made
        from it (drift corrections) say so."""
        commit = state.synced_commit
        assert commit is not None
        cached = self._cache.get(source.name)
        if cached is not None and cached.commit == commit:
            return cached
        refused = self._unvouched.get(source.name)
        if refused is not None and refused[0] == commit:
            raise _RenderingChanged(refused[1])
        provenance, policies = intent.resync_skips(state)
        desired = self._gates(source).prepare(commit, provenance=provenance, skip_policies=policies)
        # Skipping the gates holds only for the rendering they passed: the ledger's.
        changed = self._changed_rendering(source.name, desired)
        if changed is not None:
            self._unvouched[source.name] = (commit, changed)
            raise _RenderingChanged(changed)
        self._cache[source.name] = desired
        return desired

    def _changed_rendering(self, name: str, desired: Desired) -> str | None:
        rendered = {item.key: item.digest for item in desired.objects}
        recorded = self._ledger.digests(name, desired.commit)
        return results.rendering_changed(desired.commit, recorded, rendered)

    def _rendering_changed(self, name: str, message: str) -> PassResult:
        """A synced commit whose rendering changed is recorded once (`sync.failed`, stage
        `render`), and again only when what changed does; meanwhile it is logged."""
        return self._failed_once(
            self._unvouched_noted,
            name,
            message,
            message,
            stage="render",
            reason=results.RENDERING_CHANGED,
        )

    # -- converging --------------------------------------------------------------------------

    def _converge(
        self,
        source: SourceSettings,
        desired: Desired,
        *,
        state: state_mod.SourceState,
        purpose: intent.Purpose,
    ) -> PassResult:
        live = self._owned(
            source.name, desired, self._applier.live(source.name, desired, state.applied_kinds)
        )
        decided = core.plan(
            core.Facts(
                source=source,
                desired=desired,
                live=live,
                synced_commit=state.synced_commit,
                purpose=purpose,
                actor=self.actor,
                secret_digest=self._store.secret_digester.digest,
            )
        )
        accounted = core.account(decided, self._execute(decided, state))
        self._record(accounted.records)
        if not accounted.judge_health:
            return accounted.result
        if not decided.facts.synced:
            state = state_mod.load(self._store, source.name)
        return self._judge_health(source, desired, state=state) or accounted.result

    def _execute(self, decided: core.PassPlan, state: state_mod.SourceState) -> core.Executed:
        """Do what the core decided, in its order, recording the drift it found before
        correcting any; report what happened."""
        desired = decided.facts.desired
        if decided.apply:
            try:
                self._applier.apply_tiers(decided.objects.apply, desired)
            except ApplyFailed as exc:
                return core.Executed(apply_failure=_failure(exc))
        witnesses = {
            found.desired.key: self._witnesses(found.desired.key, state.applied_seq)
            for found in decided.drifted
        }
        # Drift is recorded before it is corrected: each correction names its detection.
        written = self._record(core.detections(decided, witnesses))
        detected = {
            found.desired.key: record.seq
            for found, record in zip(decided.drifted, written, strict=True)
        }
        correction_failure = None
        if decided.correct:
            try:
                self._applier.apply_tiers(decided.correct, desired)
            except ApplyFailed as exc:
                correction_failure = _failure(exc)
        return core.Executed(
            detected=detected,
            correction_failure=correction_failure,
            deletions=self._applier.prune(decided.prune),
        )

    # -- health and rollback -----------------------------------------------------------------

    def _judge_health(
        self, source: SourceSettings, desired: Desired, *, state: state_mod.SourceState
    ) -> PassResult | None:
        if not healthcheck.owed(state, desired.commit) or state.last_applied is None:
            return None
        if self.stopping():
            return None  # judged by the next pass, which may roll back: this one applies no more
        items = healthcheck.workloads(desired)
        live = self._applier.live(source.name, desired, []) if items else {}
        commit = desired.commit
        judgement = healthcheck.judge(
            items,
            live,
            commit=commit,
            applied_at=state.last_applied.time.timestamp(),
            now=self._clock(),
            timeout=source.health_timeout,
        )
        if judgement.status == "healthy":
            self._record(
                [healthcheck.healthy(source.name, commit, actor=self.actor, judgement=judgement)]
            )
            return None
        if judgement.status == "waiting":
            return None
        refused: str | None = None
        # Ancestry is asked of Git only when the source may roll back by itself.
        earlier = self._earlier_healthy(source.name, commit) if source.auto_rollback else None
        target = healthcheck.rollback_target(source, earlier)
        if target is not None:
            try:
                return self.rollback(
                    source.name,
                    to=target,
                    reason=judgement.reason,
                    requested_by=self.actor,
                    automatic=True,
                )
            except RollbackRefused as exc:
                refused = str(exc)
        record, result = healthcheck.unhealthy(
            source.name, commit, actor=self.actor, judgement=judgement, refused=refused
        )
        self._record([record])
        return result

    def rollback(
        self,
        name: str,
        *,
        to: str | None,
        reason: str,
        requested_by: str,
        automatic: bool = False,
    ) -> PassResult:
        """Return `name` to an earlier commit verified for it, and hold it there.

        The commit must be in the ledger as verified for this source; the current policies
        are checked again, the signatures are not (the ledger says when they were). Without
        `to`, the newest healthy commit the current one descends from (`_earlier_healthy`).
        """
        source = self.source(name)
        self._check_leader()
        state = state_mod.load(self._store, name)
        current = state.synced_commit
        git = self._git[name]
        head = git.fetch()
        if to is None:
            to = self._earlier_healthy(name, current)
            if to is None:
                before = f" before {current[:12]}" if current else ""
                raise RollbackRefused(
                    f"source {name} has no healthy commit{before} in its history to roll back "
                    "to; name one with --to"
                )
        full = git.resolve(to)
        verified = self._ledger.verified_commit(name, full)
        if verified is None:
            raise RollbackRefused(
                f"commit {to} was never verified for source {name}; refusing to roll back to it"
            )
        try:
            desired = self._gates(source).prepare(full, provenance=intent.rollback_skip(verified))
        except Rejected as exc:
            raise RollbackRefused(f"rollback to {full[:12]} refused: {exc}") from exc
        changed = self._changed_rendering(name, desired)
        if changed is not None:
            raise RollbackRefused(f"rollback to {full[:12]} refused: {changed}")
        self._ledger.record_desired(name, full, desired.objects)
        self._cache[name] = desired
        purpose = intent.Rollback(
            to=full,
            from_commit=current,
            head=head,
            reason=reason,
            requested_by=requested_by,
            automatic=automatic,
        )
        return self._converge(source, desired, state=state, purpose=purpose)

    def _earlier_healthy(self, name: str, current: str | None) -> str | None:
        """The newest commit of `name` recorded healthy that `current` descends from in Git
        (a proper ancestor), or None.

        The newest healthy commit alone would be the one a rollback just left (rolled back
        from C2 to C1, the next rollback would go forward to C2), or one on a line of history
        Git has since left. A healthy commit the repository no longer holds is passed over."""
        if current is None or self._lost(name, current):
            return None
        git = self._git[name]
        for commit in state_mod.healthy_commits(self._store, name):
            if commit == current:
                continue
            try:
                if git.is_ancestor(commit, current):
                    return commit
            except ReconcileError as exc:
                log.warning("%s: healthy commit %s passed over: %s", name, commit[:12], exc)
        return None

    def _owned(
        self, name: str, desired: Desired, live: Mapping[ObjectKey, dict[str, Any]]
    ) -> dict[ObjectKey, dict[str, Any]]:
        """The live objects this source may prune or correct: those of the commit, and those
        the ledger says it applied (at the commit they name). Anyone may write the managed
        label and the source annotation on an object where the webhook does not look (an
        exempt namespace); such an object is left alone, and said so in the log."""
        wanted = {item.key for item in desired.objects}
        owned: dict[ObjectKey, dict[str, Any]] = {}
        for key, obj in live.items():
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            commit = annotations.get(contract.COMMIT_ANNOTATION)
            if key in wanted or (
                isinstance(commit, str) and self._ledger.desired(name, commit, key) is not None
            ):
                owned[key] = obj
            else:
                log.warning(
                    "%s: %s carries the source's label and annotation, but the source never "
                    "applied it (commit %s); leaving it alone",
                    name,
                    key,
                    commit,
                )
        return owned

    def _record(self, records: Sequence[NewEvent]) -> list[Record]:
        """Append `records` in one go; the records as written, with their sequence numbers."""
        if not records:
            return []
        return self._store.append_many(list(records))


class _RenderingChanged(ReconcileError):
    """The synced commit renders, under the source's settings now, unlike the rendering its
    gates passed (`results.rendering_changed` says how)."""


class _Broken(ReconcileError):
    """Reading, rendering or checking a commit raised something unforeseen: the commit is
    rejected with that as its reason."""

    def __init__(self, commit: str, error: BaseException) -> None:
        message = f"commit {commit[:12]} could not be read or checked: {_describe(error)}"
        super().__init__(message)
        self.reasons = [{"kind": "error", "message": message}]


def _describe(error: BaseException) -> str:
    """An exception for a record: its type and message, kept short."""
    text = str(error).strip() or "no message"
    if len(text) > 500:
        text = text[:500] + "..."
    return f"{type(error).__name__}: {text}"


def _failure(exc: ApplyFailed) -> core.ApplyFailure:
    return core.ApplyFailure(str(exc), tuple(exc.applied), tuple(exc.not_applied))
