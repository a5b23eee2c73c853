"""The policy evaluator: a loaded policy set on an engine, turning inputs into Decisions."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper.errors import GatekeeperError
from gatekeeper.policy import fallback
from gatekeeper.policy import inventory as inventory_module
from gatekeeper.policy.decision import (
    Action,
    Decision,
    Message,
    RuleKind,
    parse_action,
    weaker_action,
)
from gatekeeper.policy.engine import Engine, RegoModule
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.errors import EvaluationError, PolicyLoadError
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.match import constraint_matches
from gatekeeper.policy.policyset import PolicySet, load_policy_set
from gatekeeper.settings import Settings

if TYPE_CHECKING:
    from gatekeeper.policy.sources import CheckoutFactory, RecordQuery

log = logging.getLogger(__name__)

DECISION_PACKAGE = "gatekeeper_internal.decision"
POLICIES_REF = f"data.{DECISION_PACKAGE}.policies"
CONSTRAINTS_REF = f"data.{DECISION_PACKAGE}.constraints"
MATCHED_KEY = "gatekeeper_internal_matched"
_PROBE = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}}


class ReloadReporter(Protocol):
    """Told when a reload fails and the last good policy set stays active.

    The service wires this to the audit store (event kind `policy.reload_failed`).
    """

    def policy_reload_failed(self, *, sources: Sequence[str], error: str) -> None: ...


@dataclass(frozen=True)
class _Part:
    """The share of a policy set one engine holds, and the modules it was given."""

    engine: Engine
    policy_set: PolicySet
    modules: tuple[RegoModule, ...]


@dataclass(frozen=True)
class _Compiled:
    policy_set: PolicySet
    primary: _Part
    # What the default engine refused, on embedded OPA (see `gatekeeper.policy.fallback`).
    fallback: _Part | None = None
    fallbacks: Mapping[str, str] = field(default_factory=dict)


def decision_module(policy_set: PolicySet) -> RegoModule:
    """The generated module a decision is read from, in one query per part.

    `policies` is one object holding every plain policy's messages; each entry comes from a
    helper rule with an empty default, so a policy whose rule is undefined gives an empty
    entry instead of an undefined answer. `constraints` holds each matched constraint's
    violations, evaluated with the constraint's parameters. Keys carry everything needed to
    read the answer (`rego|<rule>|<action>|<policy>`, `constraint|<action>|<kind>/<name>`),
    so a result never depends on which policy set a concurrent reload left behind.
    """
    lines = [f"package {DECISION_PACKAGE}", "", "import rego.v1", ""]
    entries = []
    pairs = [(policy, rule) for policy in policy_set.policies for rule in policy.rules]
    for index, (policy, rule) in enumerate(pairs):
        action = weaker_action("warn" if rule == "warn" else policy.action, policy.action)
        key = json.dumps(f"rego|{rule}|{action}|{policy.id}")
        lines += [f"default r{index} := set()", f"r{index} := data.{policy.id}.{rule}", ""]
        entries.append(f"\t{key}: r{index},")
    lines += ["policies := {", *entries, "}", ""]
    templates = {template.kind: template for template in policy_set.templates}
    for index, constraint in enumerate(policy_set.constraints):
        key = json.dumps(f"constraint|{constraint.action}|{constraint.policy_id}")
        package = templates[constraint.kind].package
        lines += [
            f"constraints[{key}] := v if {{",
            f"\tinput.{MATCHED_KEY}[{json.dumps(constraint.policy_id)}]",
            f"\tv := data.{package}.violation with input.parameters as "
            f"data.gatekeeper_internal.parameters[{index}]",
            "}",
            "",
        ]
    return RegoModule(path="gatekeeper_internal/decision.rego", source="\n".join(lines))


def entry_points(policy_set: PolicySet) -> tuple[str, ...]:
    """The rules a decision reads: the combined policies rule first, then each policy's
    decision rules and each template's violation (checked ahead of time by some engines)."""
    refs = [POLICIES_REF]
    refs += [f"data.{p.id}.{rule}" for p in policy_set.policies for rule in p.rules]
    refs += [f"data.{t.package}.violation" for t in policy_set.templates]
    return tuple(refs)


class PolicyEvaluator:
    """Evaluates a policy set on policy inputs (see `gatekeeper.policy.inputs`).

    Built from a policy set that must load (`PolicyLoadError` otherwise, so a service refuses
    to start). `reload` swaps in a new set only when it loads; on failure the last good set
    stays active and the reporter is told. Safe to share between threads and async code.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        policy_set: PolicySet,
        reporter: ReloadReporter | None = None,
    ) -> None:
        self._engine = engine
        self._reporter = reporter
        self._lock = threading.Lock()
        self._inventory: dict[str, Any] = inventory_module.build_inventory(())
        # Whether a constraint that selects namespaces by label may meet a namespace the
        # inventory does not hold; see `refuse_unknown_namespaces`.
        self._refuse_unknown_namespaces = False
        self._namespace_lookup: Callable[[str], Mapping[str, str] | None] | None = None
        # What loads the set again (`gatekeeper.policy.loader.PolicyLoader`), when built from
        # the settings; the watcher follows it.
        self.loader: Any = None
        self._compiled = self._install(policy_set)

    @classmethod
    def from_paths(
        cls, paths: Sequence[Path], *, engine: Engine, reporter: ReloadReporter | None = None
    ) -> PolicyEvaluator:
        from gatekeeper.policy.loader import PolicyLoader

        loader = PolicyLoader(paths)
        evaluator = cls(engine=engine, policy_set=loader.load(), reporter=reporter)
        evaluator.loader = loader
        return evaluator

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def policy_set(self) -> PolicySet:
        return self._compiled.policy_set

    @property
    def fallbacks(self) -> Mapping[str, str]:
        """Template kinds (`*` for the plain policies) the default engine refused, which run
        on embedded OPA instead, with regorus's reason."""
        return dict(self._compiled.fallbacks)

    def _load_part(self, engine: Engine, policy_set: PolicySet) -> _Part:
        modules = (*policy_set.engine_modules(), decision_module(policy_set))
        engine.load(modules, self._data_for(policy_set), entry_points=entry_points(policy_set))
        return _Part(engine=engine, policy_set=policy_set, modules=modules)

    def _install(self, policy_set: PolicySet) -> _Compiled:
        try:
            compiled = _Compiled(policy_set, self._load_part(self._engine, policy_set))
        except PolicyLoadError as exc:
            if self._engine.name != "regorus" or not fallback.fallback_available():
                raise PolicyLoadError(fallback.unknown_function_hint(str(exc))) from exc
            compiled = self._install_split(policy_set, exc)
        for warning in policy_set.warnings:
            log.warning("%s", warning)
        try:
            # Engines that compile lazily report type errors on the first query.
            self._query(compiled, sync_input(_PROBE))
        except EvaluationError as exc:
            raise PolicyLoadError(f"policy set does not evaluate: {exc}") from exc
        return compiled

    def _install_split(self, policy_set: PolicySet, error: PolicyLoadError) -> _Compiled:
        split = fallback.split_for_regorus(policy_set, self._data_for(policy_set))
        if split.fallback is None:
            raise error
        try:
            opa_part = self._load_part(create_engine(fallback.FALLBACK_ENGINE), split.fallback)
        except PolicyLoadError:
            # OPA refuses it too: the Rego is wrong, and the configured engine says why.
            raise PolicyLoadError(fallback.unknown_function_hint(str(error))) from error
        primary = self._load_part(self._engine, split.primary)
        fallback.log_split(split)
        return _Compiled(policy_set, primary, opa_part, split.reasons)

    def replace(self, policy_set: PolicySet) -> None:
        """Install a new policy set; raises and keeps the old one if it fails.

        `PolicyLoadError` when the set is bad; the engine's own error (an OPA server that
        cannot be reached, say) when it could not take the set.
        """
        with self._lock:
            previous = self._compiled
            try:
                self._compiled = self._install(policy_set)
            except GatekeeperError:
                # Engines keep their old set on a failed load; this restores it after a set
                # that loaded but failed its first evaluation, or one an engine took only in
                # part (modules pushed to an OPA server before it went away).
                with contextlib.suppress(GatekeeperError):
                    self._load_part(self._engine, previous.primary.policy_set)
                raise

    def _data_for(self, policy_set: PolicySet) -> dict[str, Any]:
        return {
            **policy_set.data,
            "inventory": self._inventory,
            "gatekeeper_internal": {
                "parameters": [dict(c.parameters) for c in policy_set.constraints]
            },
        }

    def reload(self, paths: Sequence[Path] | None = None) -> bool:
        """Load the set again from `paths` (default: where it came from). True when the new
        set is active; False when it failed and the last good set stays, reported."""
        sources = [Path(s) for s in self._compiled.policy_set.sources] if paths is None else paths
        try:
            self.replace(load_policy_set(sources))
        except PolicyLoadError as exc:
            if self._reporter is not None:
                self._reporter.policy_reload_failed(
                    sources=[str(s) for s in sources], error=str(exc)
                )
            return False
        return True

    def refuse_unknown_namespaces(
        self, lookup: Callable[[str], Mapping[str, str] | None] | None = None
    ) -> None:
        """From now on, a constraint with a `namespaceSelector` meeting an object in a
        namespace the inventory does not hold asks `lookup` for its labels, and when that
        does not know either, is an `EvaluationError` rather than a non-match.

        For callers whose inventory follows the cluster (the webhook): a namespace missing
        there may have been created a moment ago, and skipping the constraint would let the
        object through unchecked.
        """
        self._refuse_unknown_namespaces = True
        self._namespace_lookup = lookup

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace `data.inventory` with the given objects (the gatekeeper's current view)."""
        inventory = inventory_module.build_inventory(objects)
        with self._lock:
            self._inventory = inventory
            self._engine.set_document("inventory", inventory)
            if self._compiled.fallback is not None:
                self._compiled.fallback.engine.set_document("inventory", inventory)

    def evaluate(self, input_document: Mapping[str, Any]) -> Decision:
        """The decision for one input; raises `EvaluationError` when a policy fails to run."""
        compiled = self._compiled
        messages = _messages(self._query(compiled, input_document))
        subject = _subject(input_document.get("review") or {})
        return Decision.of(
            messages,
            engine=self._engine.name,
            policies_evaluated=compiled.policy_set.size,
            subject=subject,
        )

    def _query(self, compiled: _Compiled, input_document: Mapping[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for part in (compiled.primary, compiled.fallback):
            if part is not None and part.policy_set.policies:
                answer = part.engine.query(POLICIES_REF, input_document)
                if isinstance(answer, Mapping):
                    results.update(answer)
        constraints = compiled.policy_set.constraints
        if constraints:
            review = input_document.get("review") or {}
            inventory = self._inventory
            refuse, lookup = self._refuse_unknown_namespaces, self._namespace_lookup
            looked_up: dict[str, Mapping[str, str] | None] = {}

            def labels_of(namespace: str) -> Mapping[str, str] | None:
                labels = inventory_module.namespace_labels(inventory, namespace)
                if labels is None and lookup is not None:
                    # Once per evaluation, whatever the number of constraints asking.
                    if namespace not in looked_up:
                        looked_up[namespace] = lookup(namespace)
                    labels = looked_up[namespace]
                if labels is None and refuse:
                    raise EvaluationError(
                        f"the labels of namespace {namespace!r} are not known yet, and a "
                        "constraint selects namespaces by label"
                    )
                return labels

            matched = {
                c.policy_id: True
                for c in constraints
                if constraint_matches(c.match, review, namespace_labels=labels_of)
            }
            parts = [compiled.primary, compiled.fallback] if matched else []
            for part in parts:
                if part is None or not any(
                    c.policy_id in matched for c in part.policy_set.constraints
                ):
                    continue
                answer = part.engine.query(
                    CONSTRAINTS_REF, {**input_document, MATCHED_KEY: matched}
                )
                if isinstance(answer, Mapping):
                    results.update(answer)
        return results


def _subject(review: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` of the object under review, for logs and reports."""
    obj = review.get("object") or review.get("oldObject") or {}
    metadata = obj.get("metadata") or {} if isinstance(obj, Mapping) else {}
    kind = (review.get("kind") or {}).get("kind") or obj.get("kind")
    namespace = review.get("namespace") or metadata.get("namespace")
    name = review.get("name") or metadata.get("name")
    return "/".join(str(part) for part in (kind, namespace, name) if part)


@functools.lru_cache(maxsize=4096)
def _parse_key(key: str) -> tuple[str, Action, RuleKind]:
    """(policy, action, rule) from a key of the decision module."""
    origin, _, rest = key.partition("|")
    if origin == "rego":
        rule, action_text, policy = rest.split("|", 2)
    else:
        rule = "violation"
        action_text, policy = rest.split("|", 1)
    return policy, parse_action(action_text, where=policy), rule  # type: ignore[return-value]


def _messages(result: Mapping[str, Any]) -> list[Message]:
    messages: list[Message] = []
    for key, values in result.items():
        if not values:
            continue
        policy, action, rule = _parse_key(str(key))
        for value in values if isinstance(values, list) else [values]:
            text, details = _message_parts(value)
            messages.append(
                Message(policy=policy, action=action, rule=rule, msg=text, details=details)
            )
    return messages


def _message_parts(value: Any) -> tuple[str, Any]:
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping) and "msg" in value:
        details = value.get("details")
        if details is None:
            extra = {k: v for k, v in value.items() if k != "msg"}
            details = extra or None
        return str(value["msg"]), details
    return json.dumps(value, sort_keys=True), None


def build_evaluator(
    settings: Settings,
    *,
    reporter: ReloadReporter | None = None,
    history: RecordQuery | None = None,
    component: str = "gatekeeper",
    checkout: CheckoutFactory | None = None,
    isolate_seconds: float | None = None,
) -> PolicyEvaluator:
    """The evaluator the settings describe (`policies.paths`, `sources`, `bundles`, `engine`,
    `opaUrl`). With Git policy sources, `history` (the audit store) gives the commits loaded
    before a restart, which the sources' history must descend from. The loader stays on the
    evaluator (`loader`) for the `PolicyWatcher` to follow. With `isolate_seconds`, an
    embedded engine evaluates in child processes and a query is cut off after that long."""
    from gatekeeper.policy.loader import PolicyLoader
    from gatekeeper.policy.sources import last_verified_commits

    policies = settings.policies
    known = last_verified_commits(history) if history is not None and policies.sources else {}
    loader = PolicyLoader.from_settings(
        settings, component=component, last_verified=known, checkout=checkout
    )
    engine = create_engine(
        policies.engine, opa_url=policies.opa_url, isolate_seconds=isolate_seconds
    )
    evaluator = PolicyEvaluator(engine=engine, policy_set=loader.load(), reporter=reporter)
    evaluator.loader = loader
    return evaluator
