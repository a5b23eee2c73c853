"""Gatekeeper ConstraintTemplates and constraints: parsed from YAML, their Rego namespaced."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gatekeeper.policy import rego_source
from gatekeeper.policy.decision import Action, parse_action
from gatekeeper.policy.engine import RegoModule

TEMPLATE_API_GROUP = "templates.gatekeeper.sh"
CONSTRAINT_API_GROUP = "constraints.gatekeeper.sh"
ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
TEMPLATES_PACKAGE = "gatekeeper_internal.templates"
_LIB_REF = re.compile(r"\bdata\.lib\b")
_PACKAGE_LINE = re.compile(r"^(\s*package\s+)([A-Za-z_][\w.]*)", re.MULTILINE)


class TemplateError(ValueError):
    """A ConstraintTemplate or constraint document is malformed."""


@dataclass(frozen=True)
class ConstraintTemplate:
    """A ConstraintTemplate: the constraint kind it defines and its Rego, namespaced so that
    templates cannot see each other's packages or `lib` modules."""

    name: str
    kind: str
    origin: str
    rego: str
    libs: tuple[str, ...] = ()
    parameters_schema: Mapping[str, Any] = field(default_factory=dict)
    # Where the Rego and each lib start in the YAML file (1-based), so that engine errors
    # name the file's lines rather than lines inside the block.
    rego_line: int = 1
    lib_lines: tuple[int, ...] = ()

    @property
    def package(self) -> str:
        return f"{TEMPLATES_PACKAGE}.{self.name}"

    def modules(self) -> tuple[RegoModule, ...]:
        """The template's Rego and libs as modules under the template's own package tree."""
        modules = [self._module(self.rego, f"{self.origin}#{self.name}", self.rego_line, main=True)]
        for index, lib in enumerate(self.libs):
            line = self.lib_lines[index] if index < len(self.lib_lines) else 1
            modules.append(self._module(lib, f"{self.origin}#{self.name}.libs[{index}]", line))
        return tuple(modules)

    def _module(self, source: str, path: str, line: int, *, main: bool = False) -> RegoModule:
        package = rego_source.package_of(source)
        if package is None:
            raise TemplateError(f"{path}: the Rego has no package line")
        if main:
            target = self.package
        elif package == "lib" or package.startswith("lib."):
            target = f"{self.package}.{package}"
        else:
            raise TemplateError(f"{path}: lib packages must start with `lib.`, got {package}")
        text = _PACKAGE_LINE.sub(lambda m: m.group(1) + target, source, count=1)
        text = _LIB_REF.sub(f"data.{self.package}.lib", text)
        if main:
            text = re.sub(rf"\bdata\.{re.escape(package)}\b", f"data.{target}", text)
        rego_v0 = not rego_source.declares_rego_v1(source)
        # Blank lines before the package put every line where it is in the YAML file.
        return RegoModule(path=path, source="\n" * max(line - 1, 0) + text, rego_v0=rego_v0)


@dataclass(frozen=True)
class Constraint:
    """A constraint: an instance of a template, with its match, parameters and action."""

    kind: str
    name: str
    origin: str
    action: Action = "deny"
    match: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def policy_id(self) -> str:
        return f"{self.kind}/{self.name}"


def is_template(document: Mapping[str, Any]) -> bool:
    return document.get("kind") == "ConstraintTemplate" and str(
        document.get("apiVersion", "")
    ).startswith(f"{TEMPLATE_API_GROUP}/")


def is_constraint(document: Mapping[str, Any]) -> bool:
    return str(document.get("apiVersion", "")).startswith(f"{CONSTRAINT_API_GROUP}/")


def parse_template(
    document: Mapping[str, Any], *, origin: str, lines: Mapping[str, Any] | None = None
) -> ConstraintTemplate:
    """A ConstraintTemplate document (templates.gatekeeper.sh/v1, v1beta1, v1alpha1).

    `lines` (from `rego_lines`) says where its Rego and libs start in the file."""
    name = str(_get(document, "metadata", "name") or "")
    kind = str(_get(document, "spec", "crd", "spec", "names", "kind") or "")
    if not name or not kind:
        raise TemplateError(f"{origin}: a ConstraintTemplate needs metadata.name and a crd kind")
    if name != kind.lower():
        raise TemplateError(f"{origin}: template name {name!r} must be the lower-case kind {kind}")
    targets = _get(document, "spec", "targets") or []
    if not isinstance(targets, list) or len(targets) != 1:
        raise TemplateError(f"{origin}: template {name} must have exactly one target")
    target = targets[0]
    if target.get("target") != ADMISSION_TARGET:
        raise TemplateError(f"{origin}: template {name} targets {target.get('target')!r}")
    rego, libs = _target_code(target, origin=f"{origin}: template {name}")
    if "violation" not in rego_source.top_level_rules(rego):
        raise TemplateError(f"{origin}: template {name} has no `violation` rule")
    schema = _get(document, "spec", "crd", "spec", "validation", "openAPIV3Schema") or {}
    lines = lines or {}
    return ConstraintTemplate(
        name=name,
        kind=kind,
        origin=origin,
        rego=rego,
        libs=libs,
        parameters_schema=schema,
        rego_line=int(lines.get("rego", 1)),
        lib_lines=tuple(int(n) for n in lines.get("libs", ())),
    )


def rego_lines(text: str) -> list[dict[str, Any]]:
    """For each YAML document of `text`, the first line (1-based) of the template's Rego
    (`rego`) and of its libs (`libs`), as `_target_code` would pick them; `{}` for other
    documents. A block scalar (`rego: |`) starts on the line after its indicator."""
    found: list[dict[str, Any]] = []
    for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if node is None:
            continue
        targets = _child(_child(node, "spec"), "targets")
        target = (
            targets.value[0] if isinstance(targets, yaml.SequenceNode) and targets.value else None
        )
        holder = target if _child(target, "rego") is not None else None
        for code in (
            _child(target, "code").value
            if isinstance(_child(target, "code"), yaml.SequenceNode)
            else []
        ):
            engine = _child(code, "engine")
            if holder is None and engine is not None and engine.value == "Rego":
                holder = _child(code, "source")
        rego = _child(holder, "rego")
        libs = _child(holder, "libs")
        found.append(
            {
                "rego": _first_line(rego),
                "libs": [_first_line(lib) for lib in libs.value]
                if isinstance(libs, yaml.SequenceNode)
                else [],
            }
            if rego is not None
            else {}
        )
    return found


def _child(node: Any, key: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value in node.value:
        if key_node.value == key:
            return value
    return None


def _first_line(node: Any) -> int:
    if not isinstance(node, yaml.ScalarNode):
        return 1
    return node.start_mark.line + (2 if node.style in ("|", ">") else 1)


def _target_code(target: Mapping[str, Any], *, origin: str) -> tuple[str, tuple[str, ...]]:
    if isinstance(target.get("rego"), str):
        return target["rego"], tuple(str(lib) for lib in target.get("libs") or ())
    for code in target.get("code") or ():
        if isinstance(code, Mapping) and code.get("engine") == "Rego":
            source = code.get("source") or {}
            if isinstance(source.get("rego"), str):
                return source["rego"], tuple(str(lib) for lib in source.get("libs") or ())
    raise TemplateError(f"{origin} has no Rego (targets[].rego or code[].source.rego)")


def parse_constraint(document: Mapping[str, Any], *, origin: str) -> Constraint:
    """A constraint document (constraints.gatekeeper.sh/*)."""
    kind = str(document.get("kind") or "")
    name = str(_get(document, "metadata", "name") or "")
    if not kind or not name:
        raise TemplateError(f"{origin}: a constraint needs a kind and metadata.name")
    spec = document.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise TemplateError(f"{origin}: constraint {kind}/{name}: spec must be a mapping")
    try:
        action = parse_action(
            spec.get("enforcementAction", "deny"), where=f"{origin}: constraint {kind}/{name}"
        )
    except ValueError as exc:
        raise TemplateError(str(exc)) from exc
    match = spec.get("match") or {}
    parameters = spec.get("parameters") or {}
    if not isinstance(match, Mapping) or not isinstance(parameters, Mapping):
        raise TemplateError(f"{origin}: constraint {kind}/{name}: match and parameters are maps")
    return Constraint(
        kind=kind,
        name=name,
        origin=origin,
        action=action,
        match=dict(match),
        parameters=dict(parameters),
    )


def _get(document: Mapping[str, Any], *keys: str) -> Any:
    node: Any = document
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
