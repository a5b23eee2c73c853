"""In-memory Git, cluster, audit store, ledger and policies: the reconciler's ports, for unit tests.

Each fake implements the `Protocol` the reconciler takes (`GitPort`, `KubePort`, `EventStore`,
`LedgerPort`, `PolicyPort`) with just enough behaviour to drive a pass: signed commits as
dicts of files, a cluster that stores what is applied and lists by label, a store that keeps
records in a list. Integration tests use the real adapters instead.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.audit.store import Page
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject, VerifiedCommit
from gatekeeper.kube.errors import KubeError, UnknownKind
from gatekeeper.kube.objects import ObjectKey, ResourceType
from gatekeeper.policy.decision import Decision, Message
from gatekeeper.policy.policyset import PolicySet
from gatekeeper.provenance.errors import HistoryRewritten
from gatekeeper.provenance.verdicts import (
    CommitVerdict,
    MatchedRule,
    RangeVerdict,
    Reason,
    SignatureFormat,
)
from gatekeeper.reconcile.errors import ReconcileError
from gatekeeper.reconcile.reconciler import Reconciler
from gatekeeper.settings import SourceSettings

SOURCE = "apps"
NAMESPACE = "shop"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- Git ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Commit:
    sha: str
    parent: str | None
    signer: str | None
    tree: Mapping[str, str]
    time: datetime
    paths: tuple[str, ...]  # the files it changes


ANY_PATH = MatchedRule(index=0, paths=("**",), signers=None, min_signers=1)


class MemoryGit:
    """A linear history of commits, each a whole tree of files and a signer (or none).

    A commit's paths are decided by `rules` as the trust policy would: the rule whose
    pattern (`prefix/**`, or `**`) has the longest prefix. The fake reports the rules and
    the signers; it does not count `min_signers` (the provenance tests do)."""

    def __init__(
        self, *, trusted: Iterable[str] = ("alice", "bob"), rules: Sequence[MatchedRule] = ()
    ) -> None:
        self.trusted = frozenset(trusted)
        self.rules = tuple(rules) or (ANY_PATH,)
        self.head: str | None = None
        self.tag: str | None = None  # no annotated tag: the fake's ref is a branch
        self.exported: list[str] = []
        self._commits: dict[str, _Commit] = {}

    def commit(self, files: Mapping[str, str | None], *, signer: str | None = "alice") -> str:
        """A new head: the previous tree with `files` written (or removed, for None)."""
        tree = dict(self._commits[self.head].tree) if self.head else {}
        for path, text in files.items():
            if text is None:
                tree.pop(path, None)
            else:
                tree[path] = text
        seed = f"{self.head}|{signer}|{sorted(tree.items())}|{len(self._commits)}"
        sha = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        before = self._commits[self.head].tree if self.head else {}
        changed = tuple(sorted(p for p in {*before, *tree} if before.get(p) != tree.get(p)))
        when = datetime.fromtimestamp(1_800_000_000 + 60 * len(self._commits), UTC)
        self._commits[sha] = _Commit(sha, self.head, signer, tree, when, changed)
        self.head = sha
        return sha

    def move_head(self, sha: str) -> None:
        """Point the ref at an existing commit (a force-push, or a revert of the ref)."""
        self.head = sha

    def fetch(self) -> str:
        assert self.head is not None, "the repository has no commit yet"
        return self.head

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        if since is not None and since not in self._commits:
            raise HistoryRewritten(since=since, target=target, missing=True)
        commits: list[CommitVerdict] = []
        sha: str | None = target
        while sha is not None and sha != since:
            commits.append(self._judge(self._commits[sha]))
            sha = self._commits[sha].parent
        if since is not None and sha != since:  # as git: the target does not descend from it
            raise HistoryRewritten(since=since, target=target)
        return RangeVerdict(
            target=target, since=since, mode="strict", commits=tuple(reversed(commits))
        )

    def _judge(self, commit: _Commit) -> CommitVerdict:
        if commit.signer is None:
            reason = Reason.UNSIGNED
        elif commit.signer in self.trusted:
            reason = Reason.TRUSTED
        else:
            reason = Reason.UNKNOWN_KEY
        signed = reason is Reason.TRUSTED
        deciding = {rule.index: rule for path in commit.paths if (rule := self._rule_for(path))}
        return CommitVerdict(
            sha=commit.sha,
            reason=reason,
            detail="" if signed else str(reason),
            format=SignatureFormat.SSH if commit.signer else None,
            signer=commit.signer if signed else None,
            key_id=f"SHA256:{commit.signer}" if signed else None,
            paths=commit.paths,
            author=f"{commit.signer or 'someone'} <{commit.signer or 'someone'}@example.com>",
            time=commit.time,
            rules=tuple(deciding[index] for index in sorted(deciding)) if signed else (),
        )

    def _rule_for(self, path: str) -> MatchedRule | None:
        def prefix(pattern: str) -> str | None:
            base = pattern.removesuffix("**")
            return base if path.startswith(base) else None

        found = [
            (len(base), rule)
            for rule in self.rules
            for pattern in rule.paths
            if (base := prefix(pattern)) is not None
        ]
        return max(found, key=lambda item: item[0])[1] if found else None

    def export(self, commit: str, path: str, dest: Path) -> Path:
        """The whole tree, as `GitMirror.export` writes it; the source's folder in it."""
        self.exported.append(commit)
        prefix = path.strip("/")
        root = dest / prefix if prefix not in ("", ".") else dest
        root.mkdir(parents=True, exist_ok=True)
        for name, text in self._commits[commit].tree.items():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return root

    def resolve(self, rev: str) -> str:
        found = [sha for sha in self._commits if sha.startswith(rev)]
        if len(found) != 1:
            raise ReconcileError(f"{rev!r} names no commit")
        return found[0]

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        if ancestor not in self._commits or descendant not in self._commits:
            raise ReconcileError(f"{ancestor[:12]} or {descendant[:12]} names no commit")
        sha: str | None = descendant
        while sha is not None and sha != ancestor:
            sha = self._commits[sha].parent
        return sha == ancestor


# -- the cluster --------------------------------------------------------------------------------

KINDS: Mapping[tuple[str, str], ResourceType] = {
    ("v1", "Namespace"): ResourceType("", "v1", "Namespace", "namespaces", False),
    ("v1", "ConfigMap"): ResourceType("", "v1", "ConfigMap", "configmaps", True),
    ("v1", "Secret"): ResourceType("", "v1", "Secret", "secrets", True),
    ("v1", "Service"): ResourceType("", "v1", "Service", "services", True),
    ("apps/v1", "Deployment"): ResourceType("apps", "v1", "Deployment", "deployments", True),
}


class MemoryCluster:
    """Objects by key. Server-side apply replaces an object's fields with the manifest's and
    takes them back from other managers, as `--force-conflicts` does; status stays, and the
    generation moves when the spec changes."""

    def __init__(self) -> None:
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.applied: list[ObjectKey] = []
        self.deleted: list[ObjectKey] = []
        self.refuse: dict[ObjectKey, str] = {}  # objects whose apply answers HTTP 422
        # Objects whose deletion answers HTTP 403, as an admission webhook's denial does.
        self.refuse_delete: dict[ObjectKey, str] = {}
        self.listed: list[str] = []  # the kinds listed, `apiVersion|kind`, in order
        self._versions = itertools.count(1)

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        found = KINDS.get((api_version, kind))
        if found is None:
            raise UnknownKind(f"the cluster serves no {kind} in {api_version}")
        return found

    def forget(self, api_version: str) -> None:
        """Nothing is cached here."""

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
        key = ObjectKey.of(manifest)
        if key in self.refuse:
            raise KubeError(f"PATCH: HTTP 422: {self.refuse[key]}", status=422)
        obj = copy.deepcopy(dict(manifest))
        metadata = obj.setdefault("metadata", {})
        previous = self.objects.get(key)
        before = (previous or {}).get("metadata", {})
        metadata["uid"] = before.get("uid") or f"uid-{key.name}"
        generation = int(before.get("generation", 0))
        if previous is None or previous.get("spec") != obj.get("spec"):
            generation += 1
        metadata["generation"] = generation
        if previous is not None and "status" in previous:
            obj["status"] = previous["status"]  # status is the controllers', not the manifest's
        metadata["resourceVersion"] = str(next(self._versions))
        metadata["managedFields"] = [_managed(contract.FIELD_MANAGER, "Apply", {})]
        self.objects[key] = obj
        self.applied.append(key)
        return copy.deepcopy(obj)

    def list(
        self, resource: ResourceType, *, label_selector: str = "", namespace: str | None = None
    ) -> list[dict[str, Any]]:
        label, _, value = label_selector.partition("=")
        self.listed.append(f"{resource.api_version}|{resource.kind}")
        return [
            copy.deepcopy(obj)
            for key, obj in sorted(self.objects.items(), key=lambda item: str(item[0]))
            if (key.api_group, key.kind) == (resource.group, resource.kind)
            and (namespace is None or key.namespace == namespace)
            and (not label or (obj["metadata"].get("labels") or {}).get(label) == value)
        ]

    def delete(self, resource: ResourceType, name: str, namespace: str | None = None) -> bool:
        key = ObjectKey(resource.group, resource.kind, namespace or "", name)
        if key in self.refuse_delete:
            raise KubeError(f"DELETE: HTTP 403: {self.refuse_delete[key]}", status=403)
        if self.objects.pop(key, None) is None:
            return False
        self.deleted.append(key)
        return True

    def wait_established(self, crd_name: str, *, timeout: float = 15.0) -> None:
        """Definitions are established at once here."""

    def get(self, kind: str, name: str, *, group: str = "") -> dict[str, Any] | None:
        return self.objects.get(ObjectKey(group, kind, NAMESPACE, name))

    def edit(
        self,
        kind: str,
        name: str,
        change: Callable[[dict[str, Any]], None],
        *,
        manager: str,
        fields: Mapping[str, Any],
    ) -> None:
        """Someone other than the reconciler changes an object (`kubectl edit`)."""
        obj = self.objects[ObjectKey("", kind, NAMESPACE, name)]
        change(obj)
        obj["metadata"]["managedFields"].append(_managed(manager, "Update", fields))


def _managed(manager: str, operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "time": "2027-01-15T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": dict(fields),
    }


# -- the audit store and the ledger -------------------------------------------------------------


class MemoryStore:
    """The append-only log as a list; queries filter it as the real store's SQL does."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.records: list[Record] = []
        self._clock = clock
        self.secret_digester = SecretDigester(b"memory-store-secret-digest-key!!")

    def append_many(self, events: list[NewEvent]) -> list[Record]:
        added = [
            Record(
                seq=len(self.records) + index + 1,
                time=datetime.fromtimestamp(self._clock(), UTC),
                kind=event.kind,
                actor=event.actor,
                subject=event.subject,
                source=event.source,
                commit=event.commit,
                payload=copy.deepcopy(dict(event.payload)),
                prev_hash="",
                hash="",
            )
            for index, event in enumerate(events)
        ]
        self.records.extend(added)
        return added

    def query(
        self,
        *,
        kinds: tuple[str, ...] | list[str] = (),
        source: str | None = None,
        subject: str | None = None,
        commit: str | None = None,
        after: int | None = None,
        limit: int = 100,
        order: Any = "asc",
    ) -> Page:
        found = [
            record
            for record in self.records
            if (not kinds or record.kind in kinds)
            and (source is None or record.source == source)
            and (subject is None or record.subject == subject)
            and (commit is None or record.commit == commit)
        ]
        if order == "desc":
            found = [r for r in reversed(found) if after is None or r.seq < after]
        else:
            found = [r for r in found if after is None or r.seq > after]
        return Page(records=found[:limit], next_cursor=None)

    def kinds(self) -> list[str]:
        return [record.kind for record in self.records]

    def of(self, kind: str) -> list[Record]:
        return [record for record in self.records if record.kind == kind]


class MemoryLedger:
    """Verified commits and desired objects, by source and commit."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.commits: dict[tuple[str, str], VerifiedCommit] = {}
        self.objects: dict[tuple[str, str], list[DesiredObject]] = {}
        self._clock = clock

    def record_commit(
        self,
        source: str,
        commit: str,
        *,
        signer: str | None = None,
        key_id: str | None = None,
        format: str | None = None,
    ) -> None:
        self.commits.setdefault(
            (source, commit),
            VerifiedCommit(
                source=source,
                commit=commit,
                verified_at=datetime.fromtimestamp(self._clock(), UTC),
                signer=signer,
                key_id=key_id,
                format=format,
            ),
        )

    def record_desired(self, source: str, commit: str, objects: Iterable[DesiredObject]) -> int:
        items = list(objects)
        self.objects.setdefault((source, commit), items)
        return len(items)

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None:
        return self.commits.get((source, commit))

    def digests(self, source: str, commit: str) -> dict[ObjectKey, str]:
        return {item.key: item.digest for item in self.objects.get((source, commit), [])}

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None:
        for item in self.objects.get((source, commit), []):
            if item.key == key:
                return item.digest, item.path, item.manifest
        return None


# -- policies -----------------------------------------------------------------------------------


class MemoryPolicies:
    """One rule: an object labelled `forbidden: "true"` is denied; `legacy: "yes"` too once
    `stricter()` is called, which also changes the policy set's version."""

    def __init__(self) -> None:
        self.evaluated: list[str] = []
        self.inventory: list[Mapping[str, Any]] = []
        self._strict = False
        self._set = PolicySet(data={"strict": False})

    @property
    def policy_set(self) -> PolicySet:
        return self._set

    def stricter(self) -> None:
        self._strict = True
        self._set = PolicySet(data={"strict": True})

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.inventory = list(objects)

    def evaluate(self, input_document: Mapping[str, Any]) -> Decision:
        obj = input_document["review"]["object"]
        labels = (obj.get("metadata") or {}).get("labels") or {}
        self.evaluated.append(str(obj["metadata"]["name"]))
        messages = []
        if labels.get("forbidden") == "true":
            messages.append(_deny("tests.no_forbidden", f"{obj['metadata']['name']} is forbidden"))
        if self._strict and labels.get("legacy") == "yes":
            messages.append(_deny("tests.no_legacy", "legacy objects are no longer allowed"))
        if labels.get("shaky") == "true":
            messages.append(
                Message(policy="tests.shaky", action="warn", rule="warn", msg="looks shaky")
            )
        return Decision.of(messages)


def _deny(policy: str, msg: str) -> Message:
    return Message(policy=policy, action="deny", rule="deny", msg=msg)


# -- manifests ----------------------------------------------------------------------------------


def config_map(name: str, data: Mapping[str, str], **labels: str) -> str:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}
    )


def deployment(name: str, image: str) -> str:
    labels = {"app": name}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
            },
        }
    )


def source_settings(**overrides: Any) -> SourceSettings:
    """The one source of these tests (`apps/` of the repository, namespace `shop`)."""
    values: dict[str, Any] = {
        "name": SOURCE,
        "repo": "memory://apps",
        "path": "apps",
        "trust": Path("trust.yaml"),
        "namespace": NAMESPACE,
        "healthTimeout": 60,
    }
    values.update(overrides)
    return SourceSettings(**values)


# -- everything wired together ------------------------------------------------------------------


@dataclass
class World:
    """One source over the fakes, and the reconcilers made on them (closed by the fixture)."""

    work: Path
    clock: Clock = field(default_factory=Clock)
    git: MemoryGit = field(default_factory=MemoryGit)
    cluster: MemoryCluster = field(default_factory=MemoryCluster)
    policies: MemoryPolicies = field(default_factory=MemoryPolicies)
    store: MemoryStore = field(init=False)
    ledger: MemoryLedger = field(init=False)
    reconcilers: list[Reconciler] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = MemoryStore(self.clock)
        self.ledger = MemoryLedger(self.clock)

    def source(self, **overrides: Any) -> SourceSettings:
        return source_settings(**overrides)

    def reconciler(self, source: SourceSettings | None = None) -> Reconciler:
        """A reconciler as a freshly started process: nothing cached."""
        made = Reconciler(
            git={SOURCE: self.git},
            kube=self.cluster,
            engine=self.policies,
            store=self.store,
            ledger=self.ledger,
            sources=[source or self.source()],
            identity="reconciler",
            work_dir=self.work,
            clock=self.clock,
            retry_delay=0.0,
            workers=1,
        )
        self.reconcilers.append(made)
        return made

    def close(self) -> None:
        for made in self.reconcilers:
            made.close()


def world_in(work: Path) -> Iterator[World]:
    """A world whose reconcilers are closed when the test ends."""
    made = World(work=work)
    try:
        yield made
    finally:
        made.close()


def managed(cluster: MemoryCluster) -> Sequence[str]:
    """The names of the managed objects in the cluster, sorted."""
    return sorted(key.name for key, obj in cluster.objects.items() if contract.is_managed(obj))
