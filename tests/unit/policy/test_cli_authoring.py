"""What `gatekeeper policy` tells a policy author: every suite, literal errors, YAML lines,
engine fallbacks, and policies written for Conftest's input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import main
from gatekeeper.policy.fallback import unknown_function_hint

from .conftest import FIXTURES, GATEKEEPER_SUITES, LIBRARY, require_opa, write_files

TEMPLATE = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sbroken
spec:
  crd:
    spec:
      names:
        kind: K8sBroken
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sbroken

        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          msg := sprintf("%v \\"[/tmp]\\" [c.name] \\\\", [c.name]) )
        }
"""

CONSTRAINT = """apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sBroken
metadata:
  name: broken
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def broken_suite(root: Path) -> Path:
    write_files(
        root,
        {
            "template.yaml": TEMPLATE,
            "constraint.yaml": CONSTRAINT,
            "pod.yaml": (FIXTURES / "configmap.yaml").read_text(),
            "suite.yaml": "kind: Suite\ntests:\n  - name: broken\n    template: template.yaml\n"
            "    constraint: constraint.yaml\n    cases:\n      - name: any\n"
            "        object: pod.yaml\n",
        },
    )
    return root / "suite.yaml"


def test_verify_reports_every_suite_and_exits_by_the_worst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = broken_suite(tmp_path / "broken")
    good = GATEKEEPER_SUITES / "requiredlabels" / "suite.yaml"
    code, out, err = run(["policy", "verify", str(broken), str(good)], capsys)
    assert code == 2
    assert f"ERROR\t{broken}" in out
    assert f"ok\t{good}" in out
    assert "did not load" in err


def test_a_failing_case_without_load_errors_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = GATEKEEPER_SUITES / "requiredlabels"
    write_files(
        tmp_path,
        {
            "suite.yaml": "kind: Suite\ntests:\n  - name: t\n"
            f"    template: {source}/template.yaml\n"
            f"    constraint: {source}/constraint.yaml\n    cases:\n      - name: c\n"
            f"        object: {source}/missing.yaml\n        assertions:\n"
            "          - violations: no\n"
        },
    )
    code, out, _ = run(["policy", "verify", str(tmp_path / "suite.yaml")], capsys)
    assert code == 1
    assert "FAIL\tt/c" in out.replace("  ", "")


def test_template_errors_name_the_yaml_line_and_keep_bracketed_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = broken_suite(tmp_path)
    code, out, _ = run(["policy", "verify", str(suite)], capsys)
    assert code == 2
    # The bad Rego line is line 5 of the block, which starts on line 13 of template.yaml.
    assert f"{tmp_path / 'template.yaml'}#k8sbroken:17:" in out
    assert '"[/tmp]\\" [c.name] \\\\", [c.name]) )' in out


def test_cli_errors_print_user_text_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = '\tmsg := sprintf("%v \\"[/tmp]\\" [msg] [bold]x[/bold] \\\\", [c.name]) )'
    write_files(
        tmp_path,
        {"bad.rego": f"package bad\n\nimport rego.v1\n\ndeny contains msg if {{\n{line}\n}}\n"},
    )
    code, _, err = run(
        ["policy", "eval", "-p", str(tmp_path), "-i", str(FIXTURES / "configmap.yaml")], capsys
    )
    assert code == 2
    assert err.startswith("configuration error: ")
    assert '[/tmp]\\" [msg] [bold]x[/bold] \\\\", [c.name]) )' in err


def test_a_conftest_style_policy_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path,
        {
            "p.rego": "package team.p\n\nimport rego.v1\n\ndeny contains msg if {\n"
            '\tinput.kind == "ConfigMap"\n\tmsg := "no"\n}\n',
            "p_test.rego": "package team.p_test\n\nimport rego.v1\n\nimport data.team.p\n\n"
            'test_fires if {\n\tcount(p.deny) == 1 with input as {"kind": "ConfigMap"}\n}\n',
        },
    )
    code, _, err = run(["policy", "test", str(tmp_path)], capsys)
    assert code == 0
    assert f"warning: {tmp_path / 'p.rego'}:6: reads input.kind but never input.review" in err
    code, _, err = run(
        ["policy", "eval", "-p", str(tmp_path), "-i", str(FIXTURES / "configmap.yaml")], capsys
    )
    assert code == 0
    assert "reads input.kind" in err


def test_the_shipped_library_is_not_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["policy", "test", str(LIBRARY)], capsys)
    assert code == 0
    assert "warning" not in err


def test_verify_json_lists_the_engine_fallbacks(capsys: pytest.CaptureFixture[str]) -> None:
    require_opa()
    suite = GATEKEEPER_SUITES / "cidrmerge" / "suite.yaml"
    code, out, _ = run(["policy", "verify", str(suite), "--format", "json"], capsys)
    assert code == 0
    (report,) = json.loads(out)
    assert "net.cidr_merge" in report["engine_fallbacks"]["merged-ranges"]


def test_an_unknown_function_says_the_opa_engine_may_have_it() -> None:
    message = "t.rego:3:27: Unknown function: 'net.cidr_merge'"
    hinted = unknown_function_hint(message)
    assert hinted.startswith(message)
    assert "does not have net.cidr_merge" in hinted
    assert "policies.engine: opa" in hinted
    assert unknown_function_hint("t.rego:1:1: unexpected token") == "t.rego:1:1: unexpected token"
