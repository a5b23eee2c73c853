from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gatekeeper.cli import main

from .conftest import FIXTURES, GATEKEEPER_SUITES, LIBRARY, require_opa, write_files


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_policy_test_runs_the_library_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["policy", "test", str(LIBRARY)], capsys)
    assert code == 0
    total = out.strip().splitlines()[-1]
    passed, _, count = total.removeprefix("PASS: ").partition("/")
    assert passed == count and int(count) >= 60


@pytest.mark.slow
def test_policy_test_on_embedded_opa_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    require_opa()
    code, out, _ = run(
        ["policy", "test", str(LIBRARY), "--engine", "opa", "--format", "json"], capsys
    )
    results = json.loads(out)
    assert code == 0
    assert {r["outcome"] for r in results} == {"pass"}


def test_a_failing_test_exits_one_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path, {"a_test.rego": "package a_test\n\nimport rego.v1\n\ntest_wrong if 1 == 2\n"}
    )
    code, out, _ = run(["policy", "test", str(tmp_path)], capsys)
    assert code == 1
    assert "data.a_test.test_wrong: FAIL" in out


def test_no_tests_at_all_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_files(tmp_path, {"a.rego": "package a\n\nimport rego.v1\n\nx := 1\n"})
    code, _, err = run(["policy", "test", str(tmp_path)], capsys)
    assert code == 1
    assert "no tests found" in err


def test_policy_eval_prints_a_json_decision_and_exits_one_when_denied(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixture = FIXTURES / "admissionreview-managed-edit.yaml"
    code, out, _ = run(
        ["policy", "eval", "--policies", str(LIBRARY), "--input", str(fixture), "--format", "json"],
        capsys,
    )
    decision = json.loads(out)
    assert code == 1
    assert decision["allowed"] is False
    assert decision["subject"] == "Deployment/shop/web"
    assert {
        "policy": "library.provenance_verified",
        "action": "deny",
        "rule": "deny",
        "msg": (
            "Deployment web is managed from Git but its change does not trace to a verified commit"
        ),
    } in decision["messages"]


def test_policy_eval_allows_a_prepared_input_with_trusted_provenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = yaml.safe_load((FIXTURES / "deployment-compliant.yaml").read_text())
    prepared = {
        "review": {
            "object": manifest,
            "namespace": "shop",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        },
        "provenance": {"phase": "sync", "verified": True, "trusted": True, "commit": "a" * 40},
    }
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps(prepared))
    code, out, _ = run(["policy", "eval", "-p", str(LIBRARY), "-i", str(input_file)], capsys)
    assert code == 0
    assert out.startswith("Deployment/shop/web: ALLOWED")


def test_policy_eval_refuses_a_broken_policy_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path, {"bad.rego": "package bad\n\nimport rego.v1\n\ndeny contains m if {\n\tm :=\n}\n"}
    )
    code, _, err = run(
        ["policy", "eval", "-p", str(tmp_path), "-i", str(FIXTURES / "configmap.yaml")], capsys
    )
    assert code == 2
    assert f"{tmp_path / 'bad.rego'}:6" in err.replace("\n", "")


def test_policy_eval_wants_exactly_one_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = tmp_path / "two.yaml"
    two.write_text("kind: A\n---\nkind: B\n")
    code, _, err = run(["policy", "eval", "-p", str(LIBRARY), "-i", str(two)], capsys)
    assert code == 2
    assert "exactly one object" in err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"kind": "ConfigMap", "data": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}"),
        ("deep.yaml", "kind: ConfigMap\ndata: " + "{a: " * 900 + "1" + "}" * 900 + "\n"),
        ("deeper.json", '{"kind": "ConfigMap", "data": ' + "[" * 5000 + "1" + "]" * 5000 + "}"),
        ("deep-lists.yaml", "kind: ConfigMap\ndata: " + "[" * 150 + "]" * 150 + "\n"),
    ],
    ids=["json", "yaml", "json-5000", "yaml-lists"],
)
def test_policy_eval_refuses_an_input_nested_too_deeply_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    deep = tmp_path / name
    deep.write_text(text)
    code, _, err = run(["policy", "eval", "-p", str(LIBRARY), "-i", str(deep)], capsys)
    assert code == 2
    assert "nested" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_policy_eval_takes_an_input_as_deep_as_the_reconciler_allows_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.json"
    nested = '{"a": ' * 95 + "1" + "}" * 95
    metadata = '"metadata": {"name": "x", "labels": {"team": "a"}}'
    deep.write_text(f'{{"apiVersion": "v1", "kind": "ConfigMap", {metadata}, "data": {nested}}}')
    code, out, err = run(["policy", "eval", "-p", str(LIBRARY), "-i", str(deep)], capsys)
    assert code in (0, 1), err
    assert out.startswith("ConfigMap/x: ")


def test_policy_verify_runs_gator_suites(capsys: pytest.CaptureFixture[str]) -> None:
    suites = [str(p) for p in sorted(GATEKEEPER_SUITES.glob("*/suite.yaml"))]
    code, out, _ = run(["policy", "verify", *suites], capsys)
    assert code == 0
    assert out.count("ok\t") >= len(suites)
    assert "FAIL" not in out


def test_policy_verify_exits_one_on_a_failed_assertion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = GATEKEEPER_SUITES / "requiredlabels"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"kind: Suite\ntests:\n- name: t\n  template: {source / 'template.yaml'}\n"
        f"  constraint: {source / 'constraint.yaml'}\n  cases:\n  - name: c\n"
        f"    object: {source / 'allowed.yaml'}\n    assertions:\n    - violations: 1\n"
    )
    code, out, _ = run(["policy", "verify", str(suite), "--format", "json"], capsys)
    (report,) = json.loads(out)
    assert code == 1
    assert report["cases"][0]["problems"] == ["assertion 0: expected 1 violations, got 0"]


def test_policy_test_defaults_to_the_configured_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_files(
        tmp_path / "rules",
        {"a_test.rego": "package a_test\n\nimport rego.v1\n\ntest_true if true\n"},
    )
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("policies:\n  paths: [rules/]\n")
    code, out, _ = run(["--config", str(config), "policy", "test"], capsys)
    assert code == 0
    assert out.strip().endswith("PASS: 1/1")
