"""`gatekeeper policy`: test, evaluate and verify Rego policies and Gatekeeper suites."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gatekeeper.cli.context import state
from gatekeeper.cli.options import EngineName, EngineOption, TextOrJson, TextOrJsonOption
from gatekeeper.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from gatekeeper.policy.engine import Engine

app = typer.Typer(
    name="policy",
    help="Write, test and check Rego policies and Gatekeeper ConstraintTemplates.",
    no_args_is_help=True,
)


def _engine(ctx: typer.Context, name: EngineName | None) -> Engine:
    from gatekeeper.policy.engines import create_engine

    settings = state(ctx).settings().policies
    return create_engine(name.value if name else settings.engine, opa_url=settings.opa_url)


@app.command("test")
def test_command(
    ctx: typer.Context,
    *,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Folders or files (default: policies.paths).")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", "-r", help="Only tests matching.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List passing tests.")] = False,
    engine: EngineOption = None,
    output: TextOrJsonOption = TextOrJson.text,
) -> None:
    """Run the `test_` rules of Rego modules, like `opa test`; exit 1 if any fails."""
    from gatekeeper.policy.errors import PolicyTestsFailed
    from gatekeeper.policy.testing import run_tests

    report = run_tests(_engine(ctx, engine), paths or state(ctx).settings().policies.paths, run=run)
    _echo_warnings(report.warnings)
    if output is TextOrJson.json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": r.case.ref,
                        "file": r.case.path,
                        "outcome": r.outcome,
                        "duration_ms": round(r.duration_s * 1000, 3),
                        **({"error": r.error} if r.error else {}),
                    }
                    for r in report.results
                ],
                indent=2,
            )
        )
    else:
        for result in report.results:
            if result.outcome == "pass" and not verbose:
                continue
            label = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[result.outcome]
            typer.echo(
                f"{result.case.path}: {result.case.ref}: {label} ({result.duration_s * 1000:.1f}ms)"
            )
            if result.error:
                typer.echo(f"  {result.error}")
        typer.echo("-" * 80)
        total = len(report.results)
        typer.echo(f"PASS: {report.count('pass')}/{total}")
        for outcome in ("fail", "error"):
            if report.count(outcome):
                typer.echo(f"{outcome.upper()}: {report.count(outcome)}/{total}")
    if not report.results:
        raise PolicyTestsFailed("no tests found")
    if not report.ok:
        failed = report.count("fail") + report.count("error")
        raise PolicyTestsFailed(f"{failed} of {len(report.results)} tests did not pass")


def _echo_warnings(warnings: Any) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


def _read_input(path: Path, max_depth: int) -> dict[str, Any]:
    """The one object of an input file, refused when nested deeper than `max_depth` levels
    (the reconciler's `maxYamlDepth`): deeper ones exhaust the stack of the parsers and of
    the engines' serialisers."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        documents = (
            [json.loads(text)]
            if path.suffix == ".json"
            else [d for d in yaml.safe_load_all(text) if d is not None]
        )
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read input {path}: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"cannot read input {path}: nested too deeply") from exc
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ConfigError(f"{path}: expected exactly one object or AdmissionReview")
    if _deeper_than(documents[0], max_depth):
        raise ConfigError(
            f"{path}: nested deeper than {max_depth} levels (reconciler.limits.maxYamlDepth)"
        )
    return documents[0]


def _deeper_than(root: object, limit: int) -> bool:
    """Whether mappings and lists nest more than `limit` levels, found without recursion.

    A node shared by YAML aliases is walked again only when reached at a greater depth, so a
    file of aliases of aliases costs at most `limit` walks of each node.
    """
    deepest: dict[int, int] = {}
    pending: list[tuple[object, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        if deepest.get(id(node), 0) >= depth:
            continue
        deepest[id(node)] = depth
        pending.extend((child, depth + 1) for child in children)
    return False


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    policies: Annotated[
        list[Path], typer.Option("--policies", "-p", help="Policy folder or file (repeatable).")
    ],
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="A manifest, AdmissionReview or prepared input.")
    ],
    engine: EngineOption = None,
    output: TextOrJsonOption = TextOrJson.text,
) -> None:
    """Print the decision for one object; exit 1 when it is denied."""
    from gatekeeper.policy.evaluator import PolicyEvaluator
    from gatekeeper.policy.inputs import input_from_document

    evaluator = PolicyEvaluator.from_paths(policies, engine=_engine(ctx, engine))
    _echo_warnings(evaluator.policy_set.warnings)
    for kind, reason in evaluator.fallbacks.items():
        what = "the plain policies" if kind == "*" else f"template {kind}"
        typer.echo(f"note: {what} run on embedded OPA: {reason.splitlines()[0]}", err=True)
    limits = state(ctx).settings().reconciler.limits
    document = _read_input(input_file, limits.max_yaml_depth)
    decision = evaluator.evaluate(input_from_document(document))
    subject = decision.subject or str(input_file)
    if output is TextOrJson.json:
        typer.echo(json.dumps(decision.to_dict(), indent=2, sort_keys=True))
    else:
        typer.echo(f"{subject}: {'ALLOWED' if decision.allowed else 'DENIED'}")
        for message in decision.messages:
            typer.echo(f"  {message.action:<6} [{message.policy}] {message.msg}")
    if not decision.allowed:
        raise CheckFailed(f"{subject} is denied")


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    suites: Annotated[list[Path], typer.Argument(help="Gatekeeper suite files (kind Suite).")],
    engine: EngineOption = None,
    output: TextOrJsonOption = TextOrJson.text,
) -> None:
    """Run `gator verify` suites: templates, constraints, cases and assertions.

    Every suite runs, whatever happens to the others. On the default engine each test runs
    on embedded OPA too (when installed); a template regorus refuses, or whose cases the
    two engines answer differently, is decided by OPA, and the output says so. Exit 2 when
    a suite, template or file does not load, 1 when a case fails.
    """
    from gatekeeper.policy.errors import PolicyLoadError, PolicyTestsFailed
    from gatekeeper.policy.fallback import FALLBACK_ENGINE, fallback_available
    from gatekeeper.policy.gator import verify_suites

    chosen = engine.value if engine else state(ctx).settings().policies.engine
    compare = None
    if chosen == "regorus" and fallback_available():
        compare = lambda: _engine(ctx, EngineName(FALLBACK_ENGINE))  # noqa: E731
    reports = verify_suites(
        suites, engine_factory=lambda: _engine(ctx, engine), compare_factory=compare
    )
    if output is TextOrJson.json:
        typer.echo(json.dumps([_report_json(report) for report in reports], indent=2))
    else:
        for report in reports:
            _echo_report(report)
    cases = [r for report in reports for r in report.results if not r.skipped]
    passed = sum(1 for r in cases if r.ok)
    if output is TextOrJson.text:
        typer.echo(f"{len(reports)} suites, {passed} of {len(cases)} cases passed")
    unloaded = [report.suite for report in reports if report.load_failed]
    if unloaded:
        raise PolicyLoadError(f"{len(unloaded)} of {len(reports)} suites did not load")
    failed = [report.suite for report in reports if not report.ok]
    if failed:
        raise PolicyTestsFailed(f"{len(failed)} of {len(reports)} suites failed")


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "suite": report.suite,
        "ok": report.ok,
        **({"error": report.error} if report.error else {}),
        "engine_fallbacks": dict(report.fallbacks),
        "cases": [
            {
                "test": r.test,
                "case": r.case,
                "ok": r.ok,
                "skipped": r.skipped,
                "problems": list(r.problems),
                "violations": list(r.violations),
                **({"error": r.error} if r.error else {}),
            }
            for r in report.results
        ],
    }


def _echo_report(report: Any) -> None:
    # typer.echo prints text as it is: bracketed Rego like `[c.name]` stays visible.
    status = "ERROR" if report.load_failed else ("ok" if report.ok else "FAIL")
    typer.echo(f"{status}\t{report.suite}")
    if report.error:
        typer.echo(_indent(report.error, "    "))
    for test, reason in report.fallbacks.items():
        typer.echo(f"  note\t{test}: runs on embedded OPA: {reason.splitlines()[0]}")
    for result in report.results:
        label = "ERROR" if result.error else "FAIL"
        status = "skip" if result.skipped else ("ok" if result.ok else label)
        typer.echo(f"  {status}\t{result.test}/{result.case}")
        if result.error:
            typer.echo(_indent(result.error, "    "))
        for problem in result.problems:
            typer.echo(_indent(problem, "    "))


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())
