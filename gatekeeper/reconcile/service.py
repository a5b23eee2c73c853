"""Builds a reconciler with its real adapters from the settings (Git, cluster, policies, store)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gatekeeper.audit.store import AuditStore
from gatekeeper.kube.client import KubeClient
from gatekeeper.policy.evaluator import build_evaluator
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.provenance import VerifiedCheckout
from gatekeeper.reconcile.gitsource import GitMirror, GitPort
from gatekeeper.reconcile.leader import LeaderElector
from gatekeeper.reconcile.reconciler import Reconciler
from gatekeeper.settings import Settings


@dataclass(frozen=True)
class LeaseOptions:
    """Where the Lease lives and who this replica is; None disables leader election."""

    namespace: str = "gatekeeper-system"
    name: str = "gatekeeper-reconciler"
    identity: str = ""
    duration: float = 15.0

    def holder(self) -> str:
        return self.identity or f"{socket.gethostname()}-{os.getpid()}"


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("gitops-gatekeeper")) / "sources"


def git_ports(settings: Settings, cache_dir: Path) -> dict[str, GitPort]:
    ports: dict[str, GitPort] = {}
    for source in settings.sources:
        ports[source.name] = GitMirror(
            url=source.repo,
            ref=source.ref,
            trust_file=source.trust,
            cache_dir=cache_dir,
            limits=settings.reconciler.limits,
            credentials=source.credentials,
            fetch_timeout=source.fetch_timeout,
        )
    return ports


@contextmanager
def reconciler_from_settings(
    settings: Settings,
    *,
    lease: LeaseOptions | None,
    cache_dir: Path | None = None,
    actor: str = "gatekeeper-reconciler",
    stop: threading.Event | None = None,
) -> Iterator[Reconciler]:
    """A reconciler on the real store, cluster, policy engine and Git mirrors; closed after.

    Setting `stop` (SIGTERM) ends its loop and aborts an apply under way (`Reconciler`)."""
    store = AuditStore.from_settings(settings)
    # Secrets' digests must match the webhook's: a key that does not load stops it here.
    store.secret_digester  # noqa: B018
    kube = KubeClient.from_kubeconfig(settings.kubernetes.kubeconfig, settings.kubernetes.context)
    try:
        engine = build_evaluator(
            settings, history=store, component="reconciler", checkout=VerifiedCheckout
        )
        watch = PolicyWatcher(
            engine,
            record=store.append,
            component="reconciler",
            interval=settings.policies.reload_interval,
        )
        elector = None
        if lease is not None:
            elector = LeaderElector(
                kube,
                namespace=lease.namespace,
                name=lease.name,
                identity=lease.holder(),
                duration=lease.duration,
            )
        reconciler = Reconciler(
            git=git_ports(settings, cache_dir or default_cache_dir()),
            kube=kube,
            engine=engine,
            store=store,
            sources=settings.sources,
            actor=actor,
            identity=settings.admission.reconciler_identity,
            elector=elector,
            policy_watch=watch,
            inventory_kinds=settings.policies.inventory_kinds(),
            limits=settings.reconciler.limits,
            stop=stop,
        )
        try:
            yield reconciler
        finally:
            reconciler.close()
    finally:
        kube.close()
        store.close()
