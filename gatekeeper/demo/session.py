"""A demo run's session: its folder, cluster clients, audit store, and the checks steps share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore
from gatekeeper.demo import manifests
from gatekeeper.demo.keys import DemoKeys
from gatekeeper.demo.narration import Narrator
from gatekeeper.demo.webhook import DemoWebhook
from gatekeeper.demo.workspace import CLUSTER_DIR, CONFIG_FILE, ClusterAccess
from gatekeeper.devcluster import plane
from gatekeeper.kube import contract
from gatekeeper.settings import Settings, load_settings

# Runs one `gatekeeper` command line in this process and returns its exit code.
Cli = Callable[[Sequence[str]], int]
# The exit code of a command interrupted by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


@dataclass
class DemoSession:
    """One run of the demo in `directory` (already prepared, empty but for its marker)."""

    directory: Path
    namespace: str
    narrator: Narrator
    cli: Cli
    cluster: ClusterAccess | None = None
    keep_cluster: bool = False
    _seen: int = 0
    _apis: dict[str, client.ApiClient] = field(default_factory=dict)
    _store: AuditStore | None = None
    _webhook: DemoWebhook | None = None
    _keys: DemoKeys | None = None

    @property
    def source(self) -> str:
        return self.namespace

    @property
    def config_file(self) -> Path:
        return self.directory / CONFIG_FILE

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def store(self) -> AuditStore:
        if self._store is None:
            raise RuntimeError("the audit store is not open yet")
        return self._store

    def api(self, user: str) -> client.ApiClient:
        if self.cluster is None:
            raise RuntimeError("no cluster yet")
        if user not in self._apis:
            self._apis[user] = self.cluster.api(user)
        return self._apis[user]

    def gatekeeper(self, *args: str, expect: int = 0) -> None:
        """Run a `gatekeeper` command with the demo's configuration; check its exit code."""
        self.narrator.command(args)
        code = self.cli(["--config", str(self.config_file), *args])
        if code == INTERRUPTED:
            # The command line turns Ctrl-C (and the demo's SIGTERM) into this exit code:
            # the demo was interrupted, no step failed.
            raise KeyboardInterrupt
        self.narrator.expect(
            code == expect, f"`gatekeeper {' '.join(args)}` exited {code}, expected {expect}"
        )

    def new_records(self, *, show: bool = True) -> list[Record]:
        """Audit records added since the last call, shown with their sequence numbers."""
        found = self.store.query(after=self._seen, limit=10_000).records
        if found:
            self._seen = found[-1].seq
        if show:
            self.narrator.records(found)
        return found

    def expect_kinds(self, records: Sequence[Record], *kinds: str) -> dict[str, Record]:
        """The first record of each kind; the demo stops when one is missing."""
        first: dict[str, Record] = {}
        for record in records:
            first.setdefault(record.kind, record)
        for kind in kinds:
            self.narrator.expect(kind in first, f"no {kind} record was written")
        return first

    def deployment(self) -> Any:
        return client.AppsV1Api(self.api("admin")).read_namespaced_deployment(
            manifests.APP, self.namespace
        )

    def expect_deployment(self, *, commit: str, replicas: int) -> None:
        live = self.deployment()
        annotations = live.metadata.annotations or {}
        self.narrator.expect(
            annotations.get(contract.COMMIT_ANNOTATION) == commit
            and live.spec.replicas == replicas,
            f"Deployment {manifests.APP} is at commit "
            f"{annotations.get(contract.COMMIT_ANNOTATION)} with {live.spec.replicas} "
            f"replicas; expected {commit[:12]} with {replicas}",
        )
        self.narrator.ok(
            f"Deployment {self.namespace}/{manifests.APP}: {replicas} replicas, "
            f"from commit {commit[:12]}"
        )

    def reconcile(self, *, expect: int = 0) -> list[Record]:
        self.gatekeeper(
            "reconcile",
            "--once",
            "--no-leader-election",
            "--cache-dir",
            str(self.directory / "cache"),
            expect=expect,
        )
        return self.new_records()

    def settings(self) -> Settings:
        return load_settings(self.config_file)

    # -- cleaning up ---------------------------------------------------------------------------

    def _clean_up(self) -> None:
        """Undo what the run started; each part is tried even when an earlier one fails."""
        n = self.narrator
        webhook = self._webhook
        if webhook is not None:
            if self.cluster is not None:
                self._attempt(
                    "unregister the webhook", lambda: webhook.unregister(self.api("admin"))
                )
            self._attempt("stop the webhook", webhook.stop)
            n.say("webhook stopped and unregistered")
        for api in self._apis.values():
            api.close()  # type: ignore[no-untyped-call]
        self._apis.clear()
        if self._store is not None:
            self._attempt("close the audit store", self._store.close)
        if self._keys is not None:
            self._attempt("stop the gpg-agent", self._keys.close)
        if self.cluster is None and (self.directory / CLUSTER_DIR).is_dir():
            # Interrupted while its own plane was starting: whatever `up` started goes too.
            self._attempt(
                "stop the control plane", lambda: plane.down(self.directory / CLUSTER_DIR)
            )
            n.say("control plane stopped")
        elif self.cluster is not None and self.cluster.owned_state_dir is not None:
            if self.keep_cluster:
                n.say(
                    "control plane kept: gatekeeper dev-cluster env --state-dir "
                    f"{self.cluster.owned_state_dir}"
                )
            else:
                self._attempt("stop the control plane", self.cluster.stop)
                n.say("control plane stopped")

    def _attempt(self, what: str, action: Callable[[], object]) -> None:
        # Cleaning up must not hide the error that stopped the demo; say what was left behind.
        try:
            action()
        except Exception as exc:
            self.narrator.say(f"[red]could not {what}:[/red] {type(exc).__name__}: {exc}")
