"""What follows the audit log beside the reconciler: the notifier and the PolicyReport
writer. They run in the reconciler's process, and act only while it holds the Lease, so
that with several replicas one delivers; they share their cursors through the database,
so a new leader carries on where the last one stopped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gatekeeper.audit.follow import LogFollower
from gatekeeper.audit.store import AuditStore
from gatekeeper.kube.client import KubeClient
from gatekeeper.notify.notifier import Notifier
from gatekeeper.policyreport.writer import follower_from_settings
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Followers:
    notifier: Notifier
    reports: LogFollower | None

    @property
    def empty(self) -> bool:
        return not self.notifier.followers and self.reports is None

    def open_cursors(self) -> None:
        self.notifier.open_cursors()
        if self.reports is not None:
            self.reports.position()

    def start(self) -> None:
        self.notifier.start()
        if self.reports is not None:
            self.reports.position()
            self.reports.start()

    def stop(self) -> None:
        self.notifier.stop()
        if self.reports is not None:
            self.reports.stop()

    def drain(self, timeout: float) -> bool:
        """Deliver what is recorded now (`reconcile --once`, after its pass)."""
        done = self.notifier.drain(timeout)
        if self.reports is not None:
            done = self.reports.drain(timeout) and done
        if not done:
            log.warning("not everything was delivered in %.0f s; the next run goes on", timeout)
        return done


@contextmanager
def followers_from_settings(
    settings: Settings, store: AuditStore, *, active: Callable[[], bool] = lambda: True
) -> Iterator[Followers]:
    """The configured followers on their own cluster client, closed after."""
    wanted = settings.notifications.targets or settings.policy_reports.enabled
    kube = (
        KubeClient.from_kubeconfig(settings.kubernetes.kubeconfig, settings.kubernetes.context)
        if wanted
        else None
    )
    try:
        notifier = Notifier.from_settings(settings, store, kube=kube, active=active)
        reports = (
            follower_from_settings(settings, store, kube, active=active)
            if kube is not None
            else None
        )
        yield Followers(notifier, reports)
    finally:
        if kube is not None:
            kube.close()
