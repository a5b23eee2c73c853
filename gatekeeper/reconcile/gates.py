"""The gates a commit passes before anything of it is applied: provenance, render, kinds, policy.

`Gates.prepare` is the I/O around the checks of `checks`: it exports and renders the commit,
asks the cluster about kinds, lists the inventory and runs the policy engine, and between
those steps lets each check decide. It returns the desired objects of one commit, or raises
`Rejected` with every reason found, so that `sync.rejected` can name them all and nothing of
the commit is applied.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.errors import UnknownKind
from gatekeeper.kube.objects import ResourceType
from gatekeeper.policy.decision import Decision
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.policyset import PolicySet, policy_set_version
from gatekeeper.reconcile import checks, render
from gatekeeper.reconcile.checks import Rejected
from gatekeeper.reconcile.desired import (
    Desired,
    PolicyResults,
    ProvenanceGate,
    Signature,
    Skip,
    SkipPolicies,
)
from gatekeeper.reconcile.errors import DependencyRefused, RenderError
from gatekeeper.reconcile.gitsource import GitPort, entry_path
from gatekeeper.reconcile.helmchart import Capabilities
from gatekeeper.settings import ReconcilerLimits, SourceSettings

log = logging.getLogger(__name__)


class PolicyPort(Protocol):
    """The policy engine as the reconciler uses it (`PolicyEvaluator`)."""

    def evaluate(self, input_document: Mapping[str, Any]) -> Decision: ...

    @property
    def policy_set(self) -> PolicySet:
        """The active set (it changes when the policy files are reloaded)."""
        ...

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace `data.inventory` (the reconciler puts the Namespaces there)."""
        ...


class Discovery(Protocol):
    def resource_for(self, api_version: str, kind: str) -> ResourceType: ...

    def list(
        self, resource: ResourceType, *, label_selector: str = "", namespace: str | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass
class Gates:
    """Runs the gates for one source."""

    source: SourceSettings
    git: GitPort
    kube: Discovery
    engine: PolicyPort
    identity: str
    work_dir: Path
    # (apiVersion, kind) kept in data.inventory beside the Namespaces (`policies.inventory`).
    inventory_kinds: Sequence[tuple[str, str]] = ()
    # The digest of a policy set (the reconciler's own caches it per set).
    policy_version: Callable[[PolicySet], str] = policy_set_version
    # How much of a commit is read at most (`reconciler.limits`).
    limits: ReconcilerLimits = field(default_factory=ReconcilerLimits)
    # The cluster's version and API versions, for Helm's `.Capabilities` (asked only when a
    # chart is rendered; None leaves Helm's defaults).
    capabilities: Callable[[], Capabilities | None] | None = None

    def prepare(
        self,
        commit: str,
        *,
        provenance: ProvenanceGate,
        skip_policies: SkipPolicies | None = None,
    ) -> Desired:
        """The commit's desired objects; `Rejected` with every reason when a gate fails.

        `provenance` is the verdict on the commits the sync brings, or a named skip; the
        policies run unless `skip_policies` says why not.
        """
        signature = checks.provenance(provenance, commit)
        rendering = self._render(commit)
        rendered = checks.with_namespace(rendering.objects, self.source)
        served = self._discover(checks.kinds_to_discover(rendered))
        objects, resources, custom = checks.resolve(
            rendered, served=served, namespace=self.source.namespace
        )
        results: PolicyResults | None = None
        if skip_policies is None:
            # The set is swapped only between passes (the loop follows the files before
            # each round), so the one read here is the one every object is evaluated with.
            version = self.policy_version(self.engine.policy_set)
            self.engine.set_inventory(self._inventory(objects))
            decisions = self._evaluate(commit, objects, signature)
            results = checks.policies(decisions, version=version)
        skipped: list[Skip] = []
        for skip in (provenance, skip_policies):
            if isinstance(skip, Skip):
                log.info(
                    "%s at %s: %s gate skipped: %s",
                    self.source.name,
                    commit[:12],
                    skip.gate,
                    skip.reason,
                )
                skipped.append(skip)
        return Desired(
            source=self.source.name,
            commit=commit,
            objects=objects,
            resources=resources,
            custom_kinds=custom,
            signature=signature,
            skipped=tuple(skipped),
            provenance=provenance,
            policies=results,
            files=rendering.files,
            fetched=rendering.fetched,
        )

    def _render(self, commit: str) -> render.Rendering:
        source = self.source
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="render-") as scratch:
            try:
                root = self.git.export(commit, source.path, Path(scratch))
                return render.render(
                    root,
                    mode=source.render,
                    origin=entry_path(source.path),
                    release=source.release_name or source.name,
                    namespace=source.namespace,
                    limits=self.limits,
                    repo_root=Path(scratch),
                    helm=render.HelmOptions(
                        release=source.release_name or source.name,
                        namespace=source.namespace,
                        values_files=tuple(source.values_files),
                        values=source.values,
                        repositories=tuple(source.helm_repositories),
                        capabilities=self.capabilities,
                        cache_dir=self.work_dir / "helm-charts",
                    ),
                )
            except DependencyRefused as exc:
                raise Rejected([exc.reason]) from exc
            except RenderError as exc:
                raise Rejected([{"kind": "render", "message": str(exc)}]) from exc

    def _discover(
        self, kinds: Sequence[checks.Kind]
    ) -> dict[checks.Kind, ResourceType | UnknownKind]:
        served: dict[checks.Kind, ResourceType | UnknownKind] = {}
        for api_version, kind in kinds:
            try:
                served[(api_version, kind)] = self.kube.resource_for(api_version, kind)
            except UnknownKind as exc:
                served[(api_version, kind)] = exc
        return served

    def _inventory(self, objects: Sequence[DesiredObject]) -> list[Mapping[str, Any]]:
        """The cluster's Namespaces and `inventory_kinds`, as this commit would leave them:
        constraints that select namespaces by label see the labels they will have, and
        referential policies see the objects beside the one checked. A configured kind the
        cluster does not serve (yet) contributes only the commit's own objects of it."""
        kinds = [("v1", "Namespace"), *self.inventory_kinds]
        live: list[Mapping[str, Any]] = []
        for api_version, kind in kinds:
            try:
                resource = self.kube.resource_for(api_version, kind)
            except UnknownKind as exc:
                log.warning("policies.inventory: %s; only this commit's objects of it count", exc)
                continue
            live.extend(self.kube.list(resource))
        return checks.inventory(live, objects, kinds=kinds)

    def _evaluate(
        self, commit: str, objects: Sequence[DesiredObject], signature: Signature
    ) -> list[tuple[DesiredObject, Decision]]:
        decisions: list[tuple[DesiredObject, Decision]] = []
        for item in objects:
            provenance = checks.sync_provenance(
                item,
                source=self.source.name,
                repo=self.source.repo,
                commit=commit,
                signature=signature,
            )
            document = sync_input(item.manifest, provenance=provenance, username=self.identity)
            decisions.append((item, self.engine.evaluate(document)))
        return decisions
