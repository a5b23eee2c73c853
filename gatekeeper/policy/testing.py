"""The Rego unit-test runner behind `gatekeeper policy test`, like `opa test`."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gatekeeper.policy import rego_source
from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import EvaluationError
from gatekeeper.policy.policyset import PolicySet, load_policy_set

Outcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class TestCase:
    """One `test_` rule: its package, name and file."""

    package: str
    name: str
    path: str

    @property
    def ref(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class TestResult:
    case: TestCase
    outcome: Outcome
    duration_s: float
    error: str = ""


@dataclass(frozen=True)
class TestReport:
    results: tuple[TestResult, ...]
    engine: str
    warnings: tuple[str, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.outcome == "pass" for r in self.results)


def discover_tests(policy_set: PolicySet, *, run: str | None = None) -> tuple[TestCase, ...]:
    """Every rule whose name starts with `test_`, in every module (as `opa test` does)."""
    pattern = re.compile(run) if run else None
    cases: list[TestCase] = []
    seen: set[tuple[str, str]] = set()
    for module in (*policy_set.modules, *policy_set.test_modules):
        package = module.package or ""
        for name in sorted(rego_source.top_level_rules(module.source)):
            if not name.startswith("test_") or (package, name) in seen:
                continue
            case = TestCase(package=package, name=name, path=module.path)
            if pattern is None or pattern.search(case.ref):
                seen.add((package, name))
                cases.append(case)
    return tuple(cases)


def run_tests(engine: Engine, paths: Sequence[Path], *, run: str | None = None) -> TestReport:
    """Load `paths` with their tests into `engine` and run every test rule once.

    A test passes when its rule is true, fails when it is false or undefined, and errors
    when evaluation raises. A set that does not load raises `PolicyLoadError`.
    """
    policy_set = load_policy_set(paths, include_tests=True)
    engine.load(policy_set.engine_modules(include_tests=True), dict(policy_set.data))
    results = []
    for case in discover_tests(policy_set, run=run):
        started = time.perf_counter()
        try:
            value = engine.query(case.ref, {})
        except EvaluationError as exc:
            outcome: Outcome = "error"
            error = str(exc)
        else:
            outcome, error = ("pass" if value is True else "fail"), ""
        results.append(
            TestResult(
                case=case,
                outcome=outcome,
                duration_s=time.perf_counter() - started,
                error=error,
            )
        )
    return TestReport(results=tuple(results), engine=engine.name, warnings=policy_set.warnings)
