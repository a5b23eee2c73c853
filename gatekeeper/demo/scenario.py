"""The end-to-end scenario: each step acts as a user would, then checks what the gatekeeper did."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit.signing import generate_keypair
from gatekeeper.audit.store import AuditStore
from gatekeeper.demo import dashboard, manifests
from gatekeeper.demo.errors import DemoFailed
from gatekeeper.demo.gitrepo import DemoRepo
from gatekeeper.demo.keys import DemoKeys
from gatekeeper.demo.session import DemoSession
from gatekeeper.demo.webhook import DemoWebhook
from gatekeeper.demo.workspace import CLUSTER_DIR, ClusterAccess
from gatekeeper.devcluster import bootstrap
from gatekeeper.errors import GatekeeperError
from gatekeeper.kube import contract

BREAK_GLASS_REASON = "INC-1234 traffic spike: scaling web by hand"
REPORT_FORMATS = ("html", "pdf", "json")


@dataclass(frozen=True)
class Outcome:
    """Where a finished demo left its results."""

    directory: Path
    config_file: Path
    reports: dict[str, Path]
    records: int
    first_commit: str
    last_commit: str


@dataclass
class Scenario(DemoSession):
    """The eight steps, in order (DESIGN section 3's `make demo`), and the dashboard."""

    def run(self) -> Outcome:
        """Every step in order; the cluster and the webhook are cleaned up whatever happens."""
        with self.running() as outcome:
            return outcome

    @contextlib.contextmanager
    def running(self) -> Iterator[Outcome]:
        """Steps 1 to 8, then the caller's block while the cluster and the webhook still run
        (`serve_dashboard`); everything is cleaned up afterwards, whatever happened."""
        try:
            yield self._run_steps()
        except GatekeeperError:
            raise
        except Exception as exc:
            step = self.narrator.steps[-1] if self.narrator.steps else "start"
            raise DemoFailed(f"step '{step}' failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._clean_up()

    def _run_steps(self) -> Outcome:
        repo, keys, first = self._set_up()
        self._start_webhook()
        self._first_sync(first)
        self._human_edit_refused(first)
        self._bad_commits_rejected(repo, keys, first)
        self._break_glass(first)
        last = self._good_change_and_rollback(repo, keys, first)
        reports = self._prove_and_report()
        return Outcome(
            directory=self.directory,
            config_file=self.config_file,
            reports=reports,
            records=self.store.count(),
            first_commit=first,
            last_commit=last,
        )

    # -- step 1 --------------------------------------------------------------------------------

    def _set_up(self) -> tuple[DemoRepo, DemoKeys, str]:
        n = self.narrator
        n.step(
            1,
            "set up",
            "A local control plane, signing keys for alice (platform team, OpenPGP) and bob "
            "(app team, SSH), a Git repository, a trust policy, a configuration and the "
            "audit database.",
        )
        if self.cluster is None:
            self.cluster = ClusterAccess.start(self.directory / CLUSTER_DIR, progress=n.say)
            n.ok(f"control plane running, state in {self.directory / CLUSTER_DIR}")
        else:
            n.ok("using the control plane given by the caller")
        self._keys = keys = DemoKeys.create(self.directory / "keys")
        n.ok(f"alice's OpenPGP key {keys.alice.fingerprint[-16:]} (GNUPGHOME {keys.alice.home})")
        n.ok(f"bob's SSH key {keys.bob.private_path}")
        repo = DemoRepo.init(self.directory / "repo")
        first = repo.commit(
            manifests.initial_files(self.namespace),
            author=keys.alice,
            message="Add the web application",
        )
        n.ok(f"repository {repo.path}: apps/ signed by alice in commit {first[:12]}")
        (self.directory / "trust.yaml").write_text(manifests.trust_policy(keys))
        n.ok("trust policy: alice may change everything, bob only apps/web/**")
        generate_keypair(self.directory / "keys" / "audit")
        self.config_file.write_text(
            manifests.config_file(
                directory=self.directory,
                source=self.source,
                namespace_name=self.namespace,
                reconciler_kubeconfig=self.cluster.kubeconfigs["reconciler"],
            )
        )
        n.ok(f"configuration {self.config_file}: SQLite, shipped policies, source {self.source}")
        self.gatekeeper("db", "upgrade")
        self._store = AuditStore.from_settings(self.settings())
        self._seen = self.store.head()[0]
        return repo, keys, first

    # -- step 2 --------------------------------------------------------------------------------

    def _start_webhook(self) -> None:
        n = self.narrator
        n.step(
            2,
            "admission webhook",
            "The webhook serves over TLS on 127.0.0.1 with a certificate from a CA made here; "
            "admin registers it (failurePolicy Fail) for the demo's namespace. It accepts "
            "reviews only with the client certificate kube-apiserver shows webhooks.",
        )
        client_ca = self.cluster.webhook_client_ca if self.cluster is not None else None
        self._webhook = DemoWebhook.start(
            self.settings(), self.directory / "webhook", client_ca_file=client_ca
        )
        name = self._webhook.register(self.api("admin"), namespace=self.namespace)
        n.ok(f"serving {self._webhook.url}; ValidatingWebhookConfiguration {name}")

    # -- step 3 --------------------------------------------------------------------------------

    def _first_sync(self, first: str) -> None:
        n = self.narrator
        n.step(
            3,
            "first sync",
            "The reconciler verifies alice's signature, evaluates the policies on every object "
            "and applies them with server-side apply as the `reconciler` user.",
        )
        records = self.reconcile()
        applied = self.expect_kinds(records, "sync.applied")["sync.applied"]
        n.expect(applied.commit == first, "the first sync applied some other commit")
        n.decided(f"commit {first[:12]} applied (audit seq {applied.seq})")
        self.expect_deployment(commit=first, replicas=2)
        live = self.deployment().metadata
        n.say(f"label   {contract.MANAGED_LABEL}={live.labels[contract.MANAGED_LABEL]}")
        for key in contract.PROVENANCE_ANNOTATIONS:
            n.say(f"annotation {key}: {live.annotations[key]}")
        # RBAC lets the humans edit; only the webhook stands between them and managed objects.
        bootstrap.grant_developers(self.api("admin"), self.namespace)
        n.ok(f"admin gives alice and breakglass edit rights in {self.namespace}")

    # -- step 4 --------------------------------------------------------------------------------

    def _human_edit_refused(self, first: str) -> None:
        n = self.narrator
        n.step(
            4,
            "a human edit is refused",
            "alice edits the managed Deployment directly (kubectl edit: replicas 2 -> 5).",
        )
        apps = client.AppsV1Api(self.api("alice"))
        change = {"spec": {"replicas": 5}}
        self._wait_until_webhook_answers(apps, change)
        try:
            apps.patch_namespaced_deployment(
                manifests.APP, self.namespace, change, field_manager="kubectl-edit"
            )
        except ApiException as exc:
            n.expect(exc.status == 403, f"alice's edit failed with HTTP {exc.status}, not 403")
            message = str(json.loads(exc.body or "{}").get("message", exc.body))
        else:
            n.fail("alice's edit of a managed Deployment was admitted")
        n.quote("HTTP 403 from the API server", message)
        n.expect("managed from Git" in message, "the refusal does not say the object is in Git")
        records = self.new_records()
        denied = [
            r for r in records if r.kind == "admission.denied" and not r.payload.get("dry_run")
        ]
        n.expect(bool(denied), "the refusal was not recorded")
        n.decided(f"admission denied to {denied[0].actor} (audit seq {denied[0].seq})")
        if len(denied) > 1:
            n.say("(the API server retries a refused update once on a fresh read: two decisions)")
        self.expect_deployment(commit=first, replicas=2)

    def _wait_until_webhook_answers(self, apps: client.AppsV1Api, change: dict[str, Any]) -> None:
        """The API server loads a new webhook configuration asynchronously: probe with dry-run."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                apps.patch_namespaced_deployment(
                    manifests.APP, self.namespace, change, dry_run="All"
                )
            except ApiException as exc:
                if exc.status == 403:
                    self.narrator.say("a server-side dry run is refused already; now for real:")
                    return
                raise
            if time.monotonic() > deadline:
                self.narrator.fail("the API server never called the webhook")
            time.sleep(0.5)

    # -- step 5 --------------------------------------------------------------------------------

    def _bad_commits_rejected(self, repo: DemoRepo, keys: DemoKeys, good: str) -> None:
        n = self.narrator
        n.step(
            5,
            "untrusted and non-compliant commits are rejected",
            "Three commits reach main one after the other; each is rejected whole and the "
            "cluster stays at the last good commit. After each, main is reset to that commit "
            "(strict mode would otherwise keep checking the bad commit in every later range).",
        )
        attempts: list[tuple[str, dict[str, str], Any, str]] = [
            (
                "bob (SSH) relabels the Namespace, outside apps/web/**",
                {manifests.NAMESPACE_FILE: manifests.namespace(self.namespace, team="web")},
                keys.bob,
                "sync.rejected",
            ),
            (
                "an unsigned commit changes the ConfigMap",
                {manifests.CONFIGMAP_FILE: manifests.config_map(self.namespace, greeting="pwned")},
                None,
                "sync.rejected",
            ),
            (
                "alice (signed) switches the image to :latest",
                {
                    manifests.DEPLOYMENT_FILE: manifests.deployment(
                        self.namespace, image="registry.example.com/web:latest"
                    )
                },
                keys.alice,
                "policy.denied",
            ),
        ]
        for what, files, author, kind in attempts:
            n.say(f"[bold]{what}[/bold]")
            bad = repo.commit(files, author=author, message=what)
            records = self.reconcile(expect=1)
            found = self.expect_kinds(records, "sync.rejected", kind)
            rejected = found["sync.rejected"]
            n.expect(rejected.commit == bad, "the rejection names another commit")
            reasons = [str(r.get("message", r)) for r in rejected.payload.get("reasons") or []]
            n.decided(f"commit {bad[:12]} rejected (audit seq {rejected.seq})")
            for reason in reasons:
                n.say(f"  reason: {reason}")
            self.expect_deployment(commit=good, replicas=2)
            repo.reset(good)
        namespace = client.CoreV1Api(self.api("admin")).read_namespace(self.namespace)
        labels = (namespace.metadata.labels if namespace.metadata else None) or {}
        n.expect(labels.get("team") == "shop", "the Namespace was relabelled")
        config = client.CoreV1Api(self.api("admin")).read_namespaced_config_map(
            f"{manifests.APP}-config", self.namespace
        )
        n.expect((config.data or {}).get("GREETING") == "hello", "the ConfigMap was changed")
        n.ok("Namespace and ConfigMap unchanged; main is back at the good commit")

    # -- step 6 --------------------------------------------------------------------------------

    def _break_glass(self, good: str) -> None:
        n = self.narrator
        n.step(
            6,
            "break-glass",
            "During an incident the `breakglass` user (group gatekeeper:break-glass) scales the "
            f"Deployment to 5 with annotation {contract.BREAK_GLASS_ANNOTATION}.",
        )
        change = {
            "metadata": {"annotations": {contract.BREAK_GLASS_ANNOTATION: BREAK_GLASS_REASON}},
            "spec": {"replicas": 5},
        }
        client.AppsV1Api(self.api("breakglass")).patch_namespaced_deployment(
            manifests.APP, self.namespace, change, field_manager="kubectl-edit"
        )
        glass = self.expect_kinds(self.new_records(), "breakglass")["breakglass"]
        n.decided(
            f"admitted as break-glass for {glass.actor}: "
            f"{glass.payload.get('break_glass_reason')} (audit seq {glass.seq})"
        )
        n.expect(self.deployment().spec.replicas == 5, "the break-glass change did not land")
        n.say("the next pass notices the drift, records who made it, and corrects it:")
        found = self.expect_kinds(self.reconcile(), "drift.detected", "drift.corrected")
        detected = found["drift.detected"]
        n.decided(
            f"drift on {detected.subject} by {detected.actor} (audit seq {detected.seq}), "
            f"corrected (audit seq {found['drift.corrected'].seq})"
        )
        self.expect_deployment(commit=good, replicas=2)

    # -- step 7 --------------------------------------------------------------------------------

    def _good_change_and_rollback(self, repo: DemoRepo, keys: DemoKeys, first: str) -> str:
        n = self.narrator
        n.step(
            7,
            "a good change, then a rollback",
            "bob changes the ConfigMap (his path), alice scales to 3 replicas; both are "
            "signed and compliant. Then an operator rolls back to the first commit.",
        )
        from_bob = repo.commit(
            {
                manifests.CONFIGMAP_FILE: manifests.config_map(
                    self.namespace, greeting="hi from bob"
                )
            },
            author=keys.bob,
            message="web: friendlier greeting",
        )
        applied = self.expect_kinds(self.reconcile(), "sync.applied")["sync.applied"]
        n.expect(applied.commit == from_bob, "bob's commit was not the one applied")
        n.decided(f"bob's commit {from_bob[:12]} applied (audit seq {applied.seq})")
        scaled = repo.commit(
            {manifests.DEPLOYMENT_FILE: manifests.deployment(self.namespace, replicas=3)},
            author=keys.alice,
            message="web: 3 replicas",
        )
        applied = self.expect_kinds(self.reconcile(), "sync.applied")["sync.applied"]
        n.expect(applied.commit == scaled, "alice's commit was not the one applied")
        n.decided(f"alice's commit {scaled[:12]} applied (audit seq {applied.seq})")
        self.expect_deployment(commit=scaled, replicas=3)
        self.gatekeeper(
            "rollback",
            self.source,
            "--to",
            first,
            "--reason",
            "INC-1235: error rate up after scaling; back to the first release",
            "--requested-by",
            "alice",
            "--no-leader-election",
            "--cache-dir",
            str(self.directory / "cache"),
        )
        rollback = self.expect_kinds(self.new_records(), "rollback")["rollback"]
        n.decided(f"rolled back to {first[:12]} for {rollback.actor} (audit seq {rollback.seq})")
        self.expect_deployment(commit=first, replicas=2)
        return scaled

    # -- step 8 --------------------------------------------------------------------------------

    def _prove_and_report(self) -> dict[str, Path]:
        n = self.narrator
        n.step(
            8,
            "prove it",
            "Sign a checkpoint of the audit log, verify the whole chain, write the compliance "
            "report and show the sources' status.",
        )
        self.gatekeeper("audit", "checkpoint")
        self.gatekeeper("audit", "verify")
        folder = self.directory / "report"
        folder.mkdir()
        reports: dict[str, Path] = {}
        for fmt in REPORT_FORMATS:
            path = folder / f"compliance.{fmt}"
            self.gatekeeper("report", "--format", fmt, "-o", str(path))
            n.expect(path.is_file() and path.stat().st_size > 0, f"{path} was not written")
            reports[fmt] = path
        report = json.loads(reports["json"].read_text())
        integrity = report.get("integrity") or {}
        n.expect(integrity.get("ok") is True, "the report says the audit log does not verify")
        n.ok(f"the report covers {len(report.get('events') or [])} events; the log verifies")
        self.gatekeeper("status")
        return reports

    # -- step 9 --------------------------------------------------------------------------------

    def serve_dashboard(self, *, port: int) -> None:
        """The auditors' dashboard on this run's log, until Ctrl-C or SIGTERM."""
        self.narrator.step(
            9,
            "the auditors' dashboard",
            "`gatekeeper dashboard` serves the audit log just written, in a process of its "
            "own, to whoever holds the token made for this run. The webhook and the control "
            "plane keep running meanwhile.",
        )
        dashboard.serve(
            self.narrator,
            directory=self.directory,
            config_file=self.config_file,
            port=port,
            hint=self._try_an_edit(),
        )

    def _try_an_edit(self) -> str:
        """A command to watch a refusal reach the dashboard, as alice."""
        if self.cluster is None or "alice" not in self.cluster.kubeconfigs:
            return ""
        kubectl = Path(sys.executable).with_name("kubectl")
        change = json.dumps({"spec": {"replicas": 4}}, separators=(",", ":"))
        return (
            "try an edit as alice, then find its refusal under Events: "
            f"KUBECONFIG={self.cluster.kubeconfigs['alice']} "
            f"{kubectl if kubectl.is_file() else 'kubectl'} -n {self.namespace} "
            f"patch deployment {manifests.APP} -p '{change}'"
        )
