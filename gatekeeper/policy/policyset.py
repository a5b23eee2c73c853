"""Policy sets: Rego modules, data files, ConstraintTemplates and constraints from folders."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.canonical import sha256_hex
from gatekeeper.policy import gatekeeper_crd, rego_source
from gatekeeper.policy.bundle import Bundle
from gatekeeper.policy.decision import Action, RuleKind, parse_action
from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.errors import PolicyLoadError

DECISION_RULES: tuple[RuleKind, ...] = ("deny", "warn", "violation")
RESERVED_DATA_KEYS = frozenset({"inventory", "gatekeeper_internal"})
_SKIPPED_DIRS = frozenset({"testdata", "__pycache__", "node_modules"})


@dataclass(frozen=True)
class RegoPolicy:
    """A package that defines at least one of `deny`, `warn`, `violation`.

    Its enforcement action comes from the package's METADATA block, `custom.enforcement`
    (deny when absent); `warn` rules never block whatever the action.
    """

    id: str
    rules: tuple[RuleKind, ...]
    action: Action
    title: str = ""
    description: str = ""
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyOrigin:
    """Where part of a set came from, beyond plain folders: a verified Git commit of a policy
    source (`kind` git) or an OPA bundle (`kind` bundle), for the audit log."""

    kind: str
    name: str
    location: str
    # git: the full commit SHA; bundle: the manifest's revision.
    revision: str
    signers: tuple[str, ...] = ()
    digest: str = ""

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind == "git":
            described |= {"repo": self.location, "commit": self.revision}
        else:
            described |= {"path": self.location, "revision": self.revision}
            described["digest"] = self.digest
        described["signers" if self.kind == "git" else "signed_by"] = list(self.signers)
        return described


@dataclass(frozen=True)
class PolicySet:
    """Everything loaded from a list of paths, checked, not yet handed to an engine."""

    modules: tuple[RegoModule, ...] = ()
    test_modules: tuple[RegoModule, ...] = ()
    policies: tuple[RegoPolicy, ...] = ()
    templates: tuple[gatekeeper_crd.ConstraintTemplate, ...] = ()
    constraints: tuple[gatekeeper_crd.Constraint, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    # Verified Git commits and bundles the set holds (their folders are among `sources`).
    origins: tuple[PolicyOrigin, ...] = ()
    # Things that load but are likely mistakes (see `_warnings`), for the CLI and the log.
    warnings: tuple[str, ...] = ()

    def engine_modules(self, *, include_tests: bool = False) -> tuple[RegoModule, ...]:
        """Plain modules plus every template's namespaced modules (and tests if asked)."""
        template_modules = tuple(m for t in self.templates for m in t.modules())
        tests = self.test_modules if include_tests else ()
        return self.modules + template_modules + tests

    @property
    def size(self) -> int:
        return len(self.policies) + len(self.constraints)


def policy_set_version(policy_set: PolicySet) -> str:
    """A digest of everything that decides: modules, data, templates and constraints.

    A set loaded from Git policy sources names each source's commit after the digest
    (`sha256:<hex>+<source>@<commit>`), so that every decision that carries the version
    names the verified commits it was decided by.
    """
    described: dict[str, Any] = {
        "modules": [[m.path, m.source] for m in policy_set.engine_modules()],
        "data": policy_set.data,
        "constraints": [
            [c.kind, c.name, c.action, c.match, c.parameters] for c in policy_set.constraints
        ],
    }
    if policy_set.origins:
        described["origins"] = [o.describe() for o in policy_set.origins]
    commits = "".join(f"+{o.name}@{o.revision}" for o in policy_set.origins if o.kind == "git")
    return "sha256:" + sha256_hex(described) + commits


def load_policy_set(
    paths: Sequence[Path],
    *,
    include_tests: bool = False,
    bundles: Sequence[Bundle] = (),
    origins: Sequence[PolicyOrigin] = (),
) -> PolicySet:
    """Load Rego (`*.rego`), data (`*.json`, `*.yaml`) and Gatekeeper YAML from files and folders.

    Data files are mounted, as `opa run` does, at their folder's path below the given root
    (`root/a/b/data.yaml` becomes `data.a.b`). Files ending `_test.rego` are tests; they load
    only with `include_tests`. Folders named `testdata` and hidden ones are skipped.
    `bundles` (see `gatekeeper.policy.bundle`) add their modules and data, mounted as OPA
    mounts them; `origins` say where the folders and bundles came from.
    Raises `PolicyLoadError` naming the file for anything that cannot be used.
    """
    if not paths and not bundles:
        raise PolicyLoadError("no policy paths given: an empty policy set is refused")
    modules: list[RegoModule] = []
    tests: list[RegoModule] = []
    templates: list[gatekeeper_crd.ConstraintTemplate] = []
    constraints: list[gatekeeper_crd.Constraint] = []
    data: dict[str, Any] = {}
    for root in paths:
        if not root.exists():
            raise PolicyLoadError(f"{root}: no such file or folder")
        for file, mount in _walk(root):
            origin = str(file)
            if file.suffix == ".rego":
                module = _read_module(file)
                (tests if file.name.endswith("_test.rego") else modules).append(module)
                continue
            documents = _read_documents(file)
            lines = _template_lines(file, documents)
            for index, document in enumerate(documents):
                if gatekeeper_crd.is_template(document):
                    template = _wrap(gatekeeper_crd.parse_template, document, origin, lines[index])
                    templates.append(template)
                elif gatekeeper_crd.is_constraint(document):
                    constraints.append(_wrap(gatekeeper_crd.parse_constraint, document, origin))
                else:
                    _merge_data(data, mount, document, origin)
    for bundle in bundles:
        modules.extend(bundle.modules)
        tests.extend(bundle.tests)
        for item in bundle.documents:
            _merge_data(data, item.mount, item.document, item.origin)
    policy_set = PolicySet(
        modules=tuple(modules),
        test_modules=tuple(tests) if include_tests else (),
        policies=_policies(modules),
        templates=tuple(templates),
        constraints=tuple(constraints),
        data=data,
        sources=tuple(str(p) for p in paths),
        origins=tuple(origins),
        warnings=_warnings(modules),
    )
    _check(policy_set)
    return policy_set


def _warnings(modules: Sequence[RegoModule]) -> tuple[str, ...]:
    warnings = []
    for module in modules:
        reads = rego_source.conftest_style_reads(module.source)
        if reads:
            line, read = reads[0]
            warnings.append(
                f"{module.path}:{line}: reads {read} but never input.review: the object under "
                f"review is input.review.object (a Conftest policy reads it at input), so "
                f"this policy never fires here"
            )
    return tuple(warnings)


def policy_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Every file `load_policy_set` reads from `paths` (tests included), in a stable order."""
    for root in paths:
        if root.exists():
            for file, _ in _walk(root):
                yield file


def _walk(root: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    if root.is_file():
        yield root, ()
        return
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts):
            continue
        if file.is_file() and file.suffix in (".rego", ".json", ".yaml", ".yml"):
            yield file, relative.parent.parts


def _read_module(file: Path) -> RegoModule:
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"{file}: cannot read: {exc}") from exc
    if rego_source.package_of(source) is None:
        raise PolicyLoadError(f"{file}:1: a Rego module must start with a package line")
    return RegoModule(path=str(file), source=source)


def _read_documents(file: Path) -> list[Mapping[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            documents = [json.loads(text)]
        else:
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"{file}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyLoadError(f"{file}{line}: invalid YAML: {exc}") from exc
    for document in documents:
        if not isinstance(document, dict):
            raise PolicyLoadError(f"{file}: every document must be a mapping")
    return documents


def _template_lines(file: Path, documents: list[Mapping[str, Any]]) -> list[Any]:
    """Where each document's Rego starts in a YAML file holding templates; {} otherwise."""
    if file.suffix == ".json" or not any(gatekeeper_crd.is_template(d) for d in documents):
        return [{}] * len(documents)
    try:
        lines = gatekeeper_crd.rego_lines(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        lines = []
    return lines if len(lines) == len(documents) else [{}] * len(documents)


def _wrap(parse: Any, document: Mapping[str, Any], origin: str, lines: Any = None) -> Any:
    try:
        if lines is not None:
            return parse(document, origin=origin, lines=lines)
        return parse(document, origin=origin)
    except gatekeeper_crd.TemplateError as exc:
        raise PolicyLoadError(str(exc)) from exc


def _merge_data(
    data: dict[str, Any], mount: tuple[str, ...], document: Mapping[str, Any], origin: str
) -> None:
    node = data
    for key in mount:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(f"{origin}: data path {'.'.join(mount)} is already a value")
        node = child
    _deep_merge(node, document, origin, list(mount))


def _deep_merge(
    target: dict[str, Any], source: Mapping[str, Any], origin: str, at: list[str]
) -> None:
    for key, value in source.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, Mapping):
            _deep_merge(target[key], value, origin, [*at, key])
        elif key in target:
            raise PolicyLoadError(f"{origin}: data.{'.'.join([*at, key])} is defined twice")
        else:
            target[key] = value


def _policies(modules: Sequence[RegoModule]) -> tuple[RegoPolicy, ...]:
    by_package: dict[str, dict[str, Any]] = {}
    for module in modules:
        package = module.package or ""
        entry = by_package.setdefault(
            package, {"rules": set(), "action": None, "meta": {}, "paths": []}
        )
        entry["paths"].append(module.path)
        entry["rules"].update(
            r for r in DECISION_RULES if r in rego_source.top_level_rules(module.source)
        )
        try:
            metadata = rego_source.package_metadata(module.source)
        except ValueError as exc:
            raise PolicyLoadError(
                f"{module.path}: METADATA block is not valid YAML: {exc}"
            ) from exc
        if not metadata:
            continue
        custom = metadata.get("custom") or {}
        if isinstance(custom, Mapping) and "enforcement" in custom:
            try:
                action = parse_action(custom["enforcement"], where=module.path)
            except ValueError as exc:
                raise PolicyLoadError(str(exc)) from exc
            if entry["action"] not in (None, action):
                raise PolicyLoadError(
                    f"{module.path}: package {package} declares two enforcement actions"
                )
            entry["action"] = action
        entry["meta"] = {**entry["meta"], **metadata}
    policies = []
    for package, entry in sorted(by_package.items()):
        if not entry["rules"]:
            continue
        meta = entry["meta"]
        policies.append(
            RegoPolicy(
                id=package,
                rules=tuple(r for r in DECISION_RULES if r in entry["rules"]),
                action=entry["action"] or "deny",
                title=str(meta.get("title") or ""),
                description=str(meta.get("description") or "").strip(),
                paths=tuple(entry["paths"]),
            )
        )
    return tuple(policies)


def _check(policy_set: PolicySet) -> None:
    reserved = RESERVED_DATA_KEYS & set(policy_set.data)
    if reserved:
        raise PolicyLoadError(f"data keys {sorted(reserved)} are reserved for the gatekeeper")
    kinds: dict[str, str] = {}
    for template in policy_set.templates:
        if template.kind in kinds:
            raise PolicyLoadError(
                f"{template.origin}: template kind {template.kind} is also defined in "
                f"{kinds[template.kind]}"
            )
        kinds[template.kind] = template.origin
    seen: set[str] = set()
    for constraint in policy_set.constraints:
        if constraint.kind not in kinds:
            raise PolicyLoadError(
                f"{constraint.origin}: constraint {constraint.policy_id} has no template "
                f"for kind {constraint.kind}"
            )
        if constraint.policy_id in seen:
            raise PolicyLoadError(f"{constraint.origin}: constraint {constraint.policy_id} twice")
        seen.add(constraint.policy_id)
    for module in policy_set.modules:
        package = module.package or ""
        if package.split(".")[0] in RESERVED_DATA_KEYS:
            raise PolicyLoadError(f"{module.path}: package {package} is reserved")
