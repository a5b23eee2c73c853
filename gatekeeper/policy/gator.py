"""Runs Gatekeeper `gator verify` suites (kind Suite) against the gatekeeper's engines."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import input_from_document
from gatekeeper.policy.policyset import load_policy_set


class SuiteError(PolicyLoadError):
    """A suite file is malformed or names files that cannot be read."""


@dataclass(frozen=True)
class CaseResult:
    test: str
    case: str
    ok: bool
    skipped: bool = False
    problems: tuple[str, ...] = ()
    violations: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    results: tuple[CaseResult, ...]

    @property
    def ok(self) -> bool:
        ran = [r for r in self.results if not r.skipped]
        return bool(ran) and all(r.ok for r in ran)


def _read_yaml(path: Path) -> list[Mapping[str, Any]]:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: cannot read: {exc}") from exc
    if not all(isinstance(d, dict) for d in documents):
        raise SuiteError(f"{path}: every document must be a mapping")
    return documents


def _expected_count(assertion: Mapping[str, Any], where: str) -> int | str:
    value = assertion.get("violations", "yes")
    if value is True or value == "yes":
        return "yes"
    if value is False or value == "no":
        return 0
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise SuiteError(f"{where}: violations must be yes, no or a count, got {value!r}")


def check_assertions(
    assertions: list[Mapping[str, Any]], messages: list[str], *, where: str
) -> list[str]:
    """The assertion failures for one case, as gator reports them (empty when all hold)."""
    problems = []
    for index, assertion in enumerate(assertions or [{"violations": "yes"}]):
        expected = _expected_count(assertion, f"{where} assertion {index}")
        pattern = assertion.get("message")
        matching = [m for m in messages if pattern is None or re.search(str(pattern), m)]
        about = f" matching {pattern!r}" if pattern is not None else ""
        if expected == "yes" and not matching:
            problems.append(f"assertion {index}: expected violations{about}, got none")
        elif isinstance(expected, int) and len(matching) != expected:
            problems.append(
                f"assertion {index}: expected {expected} violations{about}, got {len(matching)}"
            )
    return problems


def run_suite(suite_path: Path, *, engine_factory: Callable[[], Engine]) -> SuiteReport:
    """Run every test and case of a suite; template, constraint, object and inventory paths
    are relative to the suite file, as in gator."""
    documents = _read_yaml(suite_path)
    if len(documents) != 1 or documents[0].get("kind") != "Suite":
        raise SuiteError(f"{suite_path}: expected one document of kind Suite")
    suite = documents[0]
    base = suite_path.parent
    results: list[CaseResult] = []
    for test in suite.get("tests") or []:
        name = str(test.get("name") or "")
        if test.get("skip"):
            results.append(CaseResult(test=name, case="*", ok=True, skipped=True))
            continue
        files = [base / str(test[key]) for key in ("template", "constraint") if test.get(key)]
        if len(files) != 2:
            raise SuiteError(f"{suite_path}: test {name!r} needs a template and a constraint")
        evaluator = PolicyEvaluator(engine=engine_factory(), policy_set=load_policy_set(files))
        for case in test.get("cases") or []:
            results.append(_run_case(evaluator, base, name, case))
        evaluator.engine.close()
    return SuiteReport(suite=str(suite_path), results=tuple(results))


def _run_case(
    evaluator: PolicyEvaluator, base: Path, test: str, case: Mapping[str, Any]
) -> CaseResult:
    name = str(case.get("name") or "")
    if case.get("skip"):
        return CaseResult(test=test, case=name, ok=True, skipped=True)
    objects = _read_yaml(base / str(case.get("object")))
    if len(objects) != 1:
        raise SuiteError(f"{base / str(case.get('object'))}: expected exactly one object")
    inventory = [obj for path in case.get("inventory") or [] for obj in _read_yaml(base / path)]
    evaluator.set_inventory(inventory)
    decision = evaluator.evaluate(input_from_document(objects[0]))
    messages = [m.msg for m in decision.messages]
    problems = check_assertions(
        list(case.get("assertions") or []), messages, where=f"{test}/{name}"
    )
    return CaseResult(
        test=test, case=name, ok=not problems, problems=tuple(problems), violations=tuple(messages)
    )
