"""One reconcile pass per source: gates, record, apply, drift, prune, health, rollback."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.ledger import Ledger
from gatekeeper.errors import GatekeeperError
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.policy.policyset import PolicySet, policy_set_version
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.reconcile import health, journal, planner, witnesses
from gatekeeper.reconcile import state as state_mod
from gatekeeper.reconcile.applier import Applier, KubePort
from gatekeeper.reconcile.errors import ApplyFailed, NotLeader, ReconcileError, RollbackRefused
from gatekeeper.reconcile.gates import Desired, Gates, PolicyPort, Rejected, Signature
from gatekeeper.reconcile.gitsource import GitPort
from gatekeeper.reconcile.leader import LeaderElector
from gatekeeper.reconcile.state import EventStore
from gatekeeper.reconcile.witnesses import AdmittedChange
from gatekeeper.settings import SourceSettings

log = logging.getLogger(__name__)

Outcome = Literal["applied", "unchanged", "rejected", "failed", "rolled_back", "standby"]


class LedgerPort(Protocol):
    def record_commit(
        self,
        source: str,
        commit: str,
        *,
        signer: str | None = None,
        key_id: str | None = None,
        format: str | None = None,
    ) -> None: ...

    def record_desired(self, source: str, commit: str, objects: Any) -> int: ...

    def verified_commit(self, source: str, commit: str) -> Any: ...


@dataclass(frozen=True)
class PassResult:
    """What one pass did for one source."""

    source: str
    outcome: Outcome
    commit: str | None
    applied: int = 0
    pruned: int = 0
    drifted: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome not in ("rejected", "failed")


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
    ) -> None:
        self._git = git
        self._kube = kube
        self._engine = engine
        self._store = store
        self._sources = {source.name: source for source in sources}
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
        self._policy_versions: tuple[PolicySet, str] | None = None
        self._cache: dict[str, Desired] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply")
        self._applier = Applier(
            kube=kube,
            pool=self._pool,
            check_leader=self._check_leader,
            actor=actor,
            retry_delay=retry_delay,
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
        """One pass over every source."""
        return [self.reconcile(name) for name in self._sources]

    def run(self, stop: threading.Event, *, jitter: float = 0.1) -> None:
        """Reconcile every source at its interval (with jitter) until `stop` is set."""
        due = dict.fromkeys(self._sources, 0.0)
        failures = dict.fromkeys(self._sources, 0)
        try:
            while not stop.is_set():
                if self._elector is not None and not self._elector.try_acquire():
                    stop.wait(max(0.2, self._elector.duration / 4))
                    continue
                self._follow_policies()
                now = time.monotonic()
                for name, when in sorted(due.items(), key=lambda item: item[1]):
                    if when > now or stop.is_set():
                        continue
                    source = self._sources[name]
                    result = self.reconcile(name)
                    log.info("%s: %s %s", name, result.outcome, result.message)
                    if result.outcome == "failed":
                        failures[name] += 1
                        delay = min(source.interval, 2.0 ** min(failures[name], 8))
                    else:
                        failures[name] = 0
                        delay = source.interval * (1 + random.uniform(-jitter, jitter))  # noqa: S311
                    due[name] = time.monotonic() + delay
                wait = min(due.values()) - time.monotonic()
                if self._elector is not None:
                    wait = min(wait, self._elector.duration / 3)
                stop.wait(max(0.05, wait))
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
        """One pass for one source; never raises for a rejected commit or an API failure."""
        source = self.source(name)
        try:
            self._check_leader()
            return self._reconcile(source)
        except NotLeader as exc:
            return PassResult(name, "standby", None, message=str(exc))
        except GatekeeperError as exc:
            return self._failed_pass(name, exc)

    def _failed_pass(self, name: str, error: GatekeeperError) -> PassResult:
        """Record a pass that could not finish; the store may be what failed, so only log then."""
        commit: str | None = None
        try:
            commit = state_mod.load(self._store, name).synced_commit
            self._record(
                [
                    journal.failed(
                        source=name,
                        commit=commit,
                        actor=self.actor,
                        error=str(error),
                        applied=[],
                        not_applied=[],
                        stage="pass",
                    )
                ]
            )
        except GatekeeperError as exc:
            log.error("%s: cannot record the failed pass (%s): %s", name, error, exc)
        return PassResult(name, "failed", commit, message=str(error))

    def _gates(self, source: SourceSettings) -> Gates:
        return Gates(
            source=source,
            git=self._git[source.name],
            kube=self._kube,
            engine=self._engine,
            identity=self._identity,
            work_dir=self._work_dir,
            inventory_kinds=self._inventory_kinds,
        )

    def _reconcile(self, source: SourceSettings) -> PassResult:
        name = source.name
        git = self._git[name]
        state = state_mod.load(self._store, name)
        head = git.fetch()
        synced = state.synced_commit
        target = head
        if state.hold is not None and state.hold.head in (None, head):
            target = state.hold.commit
        rejected: list[dict[str, Any]] = []
        desired: Desired | None = None
        if target != synced:
            already = state.last_rejected
            if (
                already is not None
                and already.commit == target
                and (state.last_applied is None or already.seq > state.last_applied.seq)
                and not self._policies_changed_since(already)
            ):
                rejected = list(already.payload.get("reasons") or [])
            else:
                try:
                    desired = self._prepare_new(source, target, since=synced)
                except Rejected as exc:
                    rejected = exc.reasons
                    self._record(
                        [
                            journal.rejected(
                                source=name,
                                commit=target,
                                actor=self.actor,
                                since=synced,
                                reasons=exc.reasons,
                                policy_set_version=self._policy_version(),
                            ),
                            *journal.policy_denials(
                                source=name, commit=target, actor=self.actor, reasons=exc.reasons
                            ),
                        ]
                    )
        if desired is None:
            if synced is None:
                return PassResult(
                    name, "rejected", target, message=_summary(rejected) or "nothing synced yet"
                )
            desired = self._prepare_synced(source, synced)
        result = self._converge(source, desired, state=state, head=head)
        if rejected:
            return PassResult(
                name,
                "rejected",
                target,
                applied=result.applied,
                pruned=result.pruned,
                drifted=result.drifted,
                message=_summary(rejected),
            )
        return result

    def _policy_version(self) -> str:
        policy_set = self._engine.policy_set
        if self._policy_versions is None or self._policy_versions[0] is not policy_set:
            self._policy_versions = (policy_set, policy_set_version(policy_set))
        return self._policy_versions[1]

    def _policies_changed_since(self, rejection: Record) -> bool:
        """Whether policies refused the rejected commit and the policy set changed since."""
        reasons = rejection.payload.get("reasons") or []
        if not any(reason.get("kind") == "policy" for reason in reasons):
            return False
        return bool(rejection.payload.get("policy_set_version") != self._policy_version())

    def _prepare_new(self, source: SourceSettings, commit: str, *, since: str | None) -> Desired:
        verdict = self._git[source.name].verify(since=since, target=commit)
        desired = self._gates(source).prepare(commit, verdict=verdict)
        self._ledger.record_commit(
            source.name,
            commit,
            signer=desired.signature.signer,
            key_id=desired.signature.key_id,
            format=desired.signature.format,
        )
        self._ledger.record_desired(source.name, commit, desired.objects)
        self._cache[source.name] = desired
        return desired

    def _prepare_synced(self, source: SourceSettings, commit: str) -> Desired:
        cached = self._cache.get(source.name)
        if cached is not None and cached.commit == commit:
            return cached
        # Already verified and applied: the gates ran when it was synced.
        desired = self._gates(source).prepare(commit, verdict=None, check_policies=False)
        self._cache[source.name] = desired
        return desired

    # -- converging --------------------------------------------------------------------------

    def _converge(
        self,
        source: SourceSettings,
        desired: Desired,
        *,
        state: state_mod.SourceState,
        head: str,
        rollback: dict[str, Any] | None = None,
    ) -> PassResult:
        name, commit = source.name, desired.commit
        synced = state.synced_commit == commit and rollback is None
        previous = list(
            (state.last_applied.payload.get("kinds") if state.last_applied else []) or []
        )
        live = self._applier.live(source, desired, previous)
        plan = planner.plan(
            desired.objects,
            live,
            source=name,
            commit=commit,
            synced=synced,
            custom_kinds=desired.custom_kinds,
        )
        records: list[NewEvent] = []
        changed = plan.to_apply
        if changed or not synced:
            try:
                self._applier.apply_tiers(plan.apply, desired)
            except ApplyFailed as exc:
                self._record(
                    [
                        journal.failed(
                            source=name,
                            commit=commit,
                            actor=self.actor,
                            error=str(exc),
                            applied=exc.applied,
                            not_applied=exc.not_applied,
                            stage="apply",
                        )
                    ]
                )
                return PassResult(name, "failed", commit, message=str(exc))
            records.append(
                journal.applied(
                    source=name,
                    commit=commit,
                    actor=self.actor if rollback is None else rollback["requested_by"],
                    objects=desired.objects,
                    changed=changed,
                    kinds=desired.kinds,
                    since=state.synced_commit,
                    signer=desired.signature.signer,
                    rollback=rollback is not None,
                    warnings=desired.warnings,
                )
            )
        boundary = state.last_applied.seq if state.last_applied is not None else 0
        drifted = self._applier.handle_drift(
            source, desired, plan, records, witnesses=lambda key: self._witnesses(key, boundary)
        )
        pruned = self._applier.prune(source, desired, plan, records) if source.prune else 0
        if rollback is not None:
            records.append(journal.rollback(source=name, to=commit, **rollback))
        self._record(records)
        if rollback is not None:
            return PassResult(
                name, "rolled_back", commit, applied=len(changed), pruned=pruned, drifted=drifted
            )
        outcome: Outcome = "applied" if not synced else "unchanged"
        result = PassResult(
            name, outcome, commit, applied=len(changed), pruned=pruned, drifted=drifted
        )
        if not synced:
            state = state_mod.load(self._store, name)
        return self._judge_health(source, desired, state=state, head=head) or result

    # -- health and rollback -----------------------------------------------------------------

    def _judge_health(
        self, source: SourceSettings, desired: Desired, *, state: state_mod.SourceState, head: str
    ) -> PassResult | None:
        if not state.awaiting_health or state.last_applied is None:
            return None
        if state.last_applied.commit != desired.commit:
            return None
        workloads = [item for item in desired.objects if item.key.kind in health.WORKLOAD_KINDS]
        live = self._applier.live(source, desired, []) if workloads else {}
        verdict = health.summarise((str(item.key), live.get(item.key)) for item in workloads)
        commit = desired.commit
        if verdict.status is health.Status.CURRENT:
            self._record(
                [
                    journal.health_event(
                        source=source.name,
                        commit=commit,
                        actor=self.actor,
                        verdict=verdict,
                        healthy=True,
                    )
                ]
            )
            return None
        elapsed = self._clock() - state.last_applied.time.timestamp()
        if verdict.status is not health.Status.FAILED and elapsed < source.health_timeout:
            return None
        reason = f"unhealthy after sync of {commit[:12]}: " + "; ".join(
            f"{name}: {h.message}" for name, h in verdict.unhealthy[:5]
        )
        target = state_mod.last_healthy(self._store, source.name, other_than=commit)
        if source.auto_rollback and target is not None:
            try:
                return self.rollback(
                    source.name, to=target, reason=reason, requested_by=self.actor, automatic=True
                )
            except RollbackRefused as exc:
                reason = f"{reason}; {exc}"
        # Recorded once: the commit is judged, and stays until Git or an operator moves on.
        self._record(
            [
                journal.health_event(
                    source=source.name,
                    commit=commit,
                    actor=self.actor,
                    verdict=verdict,
                    healthy=False,
                    reason=reason,
                )
            ]
        )
        return PassResult(source.name, "failed", commit, message=reason)

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
        are checked again. Without `to`, the newest healthy commit before the current one.
        """
        source = self.source(name)
        self._check_leader()
        state = state_mod.load(self._store, name)
        current = state.synced_commit
        if to is None:
            to = state_mod.last_healthy(self._store, name, other_than=current)
            if to is None:
                raise RollbackRefused(f"source {name} has no earlier healthy commit")
        git = self._git[name]
        head = git.fetch()
        full = git.resolve(to)
        verified = self._ledger.verified_commit(name, full)
        if verified is None:
            raise RollbackRefused(
                f"commit {to} was never verified for source {name}; refusing to roll back to it"
            )
        signature = Signature(
            signer=verified.signer, key_id=verified.key_id, format=verified.format
        )
        try:
            desired = self._gates(source).prepare(full, verdict=None, signature=signature)
        except Rejected as exc:
            raise RollbackRefused(f"rollback to {full[:12]} refused: {exc}") from exc
        self._ledger.record_desired(name, full, desired.objects)
        self._cache[name] = desired
        return self._converge(
            source,
            desired,
            state=state,
            head=head,
            rollback={
                "from_commit": current,
                "head": head,
                "reason": reason,
                "requested_by": requested_by,
                "automatic": automatic,
            },
        )

    def _record(self, records: list[NewEvent]) -> None:
        if records:
            self._store.append_many(records)


def _summary(reasons: Sequence[Mapping[str, Any]]) -> str:
    text = "; ".join(str(reason.get("message", "")) for reason in reasons[:3])
    more = len(reasons) - 3
    return text + (f" (and {more} more)" if more > 0 else "")
