"""Runs Gatekeeper `gator verify` suites (kind Suite) against the gatekeeper's engines."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import EvaluationError, PolicyLoadError
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
    # Set when the case could not run (its template or a file did not load).
    error: str = ""


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    results: tuple[CaseResult, ...]
    # Set when the suite file itself could not be read; nothing ran.
    error: str = ""
    # Per test: why its template ran on embedded OPA rather than the default engine.
    fallbacks: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        ran = [r for r in self.results if not r.skipped]
        return not self.error and bool(ran) and all(r.ok for r in ran)

    @property
    def load_failed(self) -> bool:
        """Whether the suite, a template or a file it names did not load."""
        return bool(self.error) or any(r.error for r in self.results)


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


def run_suite(
    suite_path: Path,
    *,
    engine_factory: Callable[[], Engine],
    compare_factory: Callable[[], Engine] | None = None,
) -> SuiteReport:
    """Run every test and case of a suite; template, constraint, object and inventory paths
    are relative to the suite file, as in gator.

    With `compare_factory` (embedded OPA, when the default engine runs the suite) every test
    also runs there; where the two engines disagree on a case, OPA's answer stands and the
    test is listed in `fallbacks`, as is a template the default engine could not load.
    """
    documents = _read_yaml(suite_path)
    if len(documents) != 1 or documents[0].get("kind") != "Suite":
        raise SuiteError(f"{suite_path}: expected one document of kind Suite")
    suite = documents[0]
    base = suite_path.parent
    results: list[CaseResult] = []
    fallbacks: dict[str, str] = {}
    for test in suite.get("tests") or []:
        if not isinstance(test, Mapping):
            raise SuiteError(f"{suite_path}: every test must be a mapping")
        name = str(test.get("name") or "")
        if test.get("skip"):
            results.append(CaseResult(test=name, case="*", ok=True, skipped=True))
            continue
        files = [base / str(test[key]) for key in ("template", "constraint") if test.get(key)]
        if len(files) != 2:
            raise SuiteError(f"{suite_path}: test {name!r} needs a template and a constraint")
        try:
            test_results, reason = _run_test(
                files, base, name, test, engine_factory, compare_factory
            )
        except PolicyLoadError as exc:
            results.append(CaseResult(test=name, case="*", ok=False, error=str(exc)))
            continue
        results.extend(test_results)
        if reason:
            fallbacks[name] = reason
    return SuiteReport(suite=str(suite_path), results=tuple(results), fallbacks=fallbacks)


def verify_suites(
    paths: list[Path],
    *,
    engine_factory: Callable[[], Engine],
    compare_factory: Callable[[], Engine] | None = None,
) -> list[SuiteReport]:
    """Run every suite, whatever happens to the others: a suite that does not load is
    reported with its error, and the next one runs."""
    reports = []
    for path in paths:
        try:
            reports.append(
                run_suite(path, engine_factory=engine_factory, compare_factory=compare_factory)
            )
        except PolicyLoadError as exc:
            reports.append(SuiteReport(suite=str(path), results=(), error=str(exc)))
    return reports


def _run_test(
    files: list[Path],
    base: Path,
    name: str,
    test: Mapping[str, Any],
    engine_factory: Callable[[], Engine],
    compare_factory: Callable[[], Engine] | None,
) -> tuple[list[CaseResult], str]:
    policy_set = load_policy_set(files)
    evaluator = PolicyEvaluator(engine=engine_factory(), policy_set=policy_set)
    reason = "; ".join(f"{kind}: {why}" for kind, why in evaluator.fallbacks.items())
    reason = f"the default engine refuses the template ({reason})" if reason else ""
    cases = [c for c in test.get("cases") or [] if isinstance(c, Mapping)]
    results = [_run_case(evaluator, base, name, case) for case in cases]
    evaluator.engine.close()
    if compare_factory is None or reason:
        return results, reason
    other = PolicyEvaluator(engine=compare_factory(), policy_set=policy_set)
    compared = [_run_case(other, base, name, case) for case in cases]
    other.engine.close()
    differing = [
        mine.case
        for mine, theirs in zip(results, compared, strict=True)
        if not mine.skipped and sorted(mine.violations) != sorted(theirs.violations)
    ]
    if not differing:
        return results, ""
    return compared, (
        f"the engines disagree on case {', '.join(differing)}; embedded OPA's answer stands"
    )


def _run_case(
    evaluator: PolicyEvaluator, base: Path, test: str, case: Mapping[str, Any]
) -> CaseResult:
    name = str(case.get("name") or "")
    if case.get("skip"):
        return CaseResult(test=test, case=name, ok=True, skipped=True)
    try:
        objects = _read_yaml(base / str(case.get("object")))
        if len(objects) != 1:
            raise SuiteError(f"{base / str(case.get('object'))}: expected exactly one object")
        inventory = [
            obj for path in case.get("inventory") or [] for obj in _read_yaml(base / str(path))
        ]
        evaluator.set_inventory(inventory)
        decision = evaluator.evaluate(input_from_document(objects[0]))
    except PolicyLoadError as exc:
        return CaseResult(test=test, case=name, ok=False, error=str(exc))
    except EvaluationError as exc:
        return CaseResult(test=test, case=name, ok=False, problems=(f"evaluation error: {exc}",))
    messages = [m.msg for m in decision.messages]
    problems = check_assertions(
        list(case.get("assertions") or []), messages, where=f"{test}/{name}"
    )
    return CaseResult(
        test=test, case=name, ok=not problems, problems=tuple(problems), violations=tuple(messages)
    )
