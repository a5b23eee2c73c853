from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import EXIT_USAGE, outcome
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.policyset import load_policy_set

from .conftest import GATEKEEPER_SUITES, LIBRARY, write_files

WARN_POLICY = """# METADATA
# title: Team warning
# description: Says something.
# custom:
#   enforcement: warn
package team.warned

import rego.v1

deny contains "careful" if input.review.object.kind == "Pod"
"""


def test_the_shipped_library_loads_with_its_actions() -> None:
    policy_set = load_policy_set([LIBRARY])
    by_id = {policy.id: policy for policy in policy_set.policies}
    assert len(by_id) >= 15
    assert by_id["library.no_latest_tag"].action == "deny"
    assert by_id["library.read_only_root_filesystem"].action == "warn"
    assert by_id["library.seccomp_runtime_default"].action == "dryrun"
    assert by_id["library.no_latest_tag"].title == "No latest or untagged images"
    assert "library.lib.kubernetes" not in by_id
    assert policy_set.test_modules == ()


def test_every_library_policy_has_a_test_file() -> None:
    for policy in load_policy_set([LIBRARY]).policies:
        for path in policy.paths:
            assert Path(path).with_name("policy_test.rego").is_file(), path


def test_tests_load_only_when_asked() -> None:
    policy_set = load_policy_set([LIBRARY], include_tests=True)
    assert all(m.path.endswith("_test.rego") for m in policy_set.test_modules)
    assert len(policy_set.test_modules) >= 15


def test_the_enforcement_action_comes_from_the_metadata_block(tmp_path: Path) -> None:
    write_files(tmp_path, {"warned.rego": WARN_POLICY})
    (policy,) = load_policy_set([tmp_path]).policies
    assert (policy.id, policy.action, policy.rules) == ("team.warned", "warn", ("deny",))
    assert policy.description == "Says something."


def test_an_unknown_enforcement_action_is_refused_with_the_file(tmp_path: Path) -> None:
    write_files(
        tmp_path, {"bad.rego": WARN_POLICY.replace("enforcement: warn", "enforcement: block")}
    )
    with pytest.raises(PolicyLoadError, match=r"bad\.rego.*block"):
        load_policy_set([tmp_path])


def test_data_files_are_mounted_at_their_folder(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "data.yaml": "gatekeeper:\n  config:\n    required_labels: [team]\n",
            "registries/data.json": '{"allowed": ["registry.example.com/"]}',
        },
    )
    data = load_policy_set([tmp_path]).data
    assert data == {
        "gatekeeper": {"config": {"required_labels": ["team"]}},
        "registries": {"allowed": ["registry.example.com/"]},
    }


def test_data_defined_twice_is_refused_naming_the_second_file(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.yaml": "x: {y: 1}\n", "b.yaml": "x: {y: 2}\n"})
    with pytest.raises(PolicyLoadError, match=r"b\.yaml: data\.x\.y is defined twice"):
        load_policy_set([tmp_path])


def test_broken_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    write_files(tmp_path, {"data.yaml": "a: 1\nb: [unclosed\n"})
    with pytest.raises(PolicyLoadError, match=r"data\.yaml:\d+: invalid YAML"):
        load_policy_set([tmp_path])


def test_a_rego_file_without_package_is_refused(tmp_path: Path) -> None:
    write_files(tmp_path, {"x.rego": "deny contains 1 if true\n"})
    with pytest.raises(PolicyLoadError, match=r"x\.rego:1"):
        load_policy_set([tmp_path])


def test_templates_and_constraints_load_from_yaml() -> None:
    folder = GATEKEEPER_SUITES / "allowedrepos"
    policy_set = load_policy_set([folder / "template.yaml", folder / "constraint.yaml"])
    (template,) = policy_set.templates
    (constraint,) = policy_set.constraints
    assert template.kind == "K8sAllowedRepos"
    assert constraint.policy_id == "K8sAllowedRepos/repo-is-internal"
    assert constraint.parameters == {"repos": ["registry.example.com/"]}
    assert constraint.match["namespaces"] == ["prod-*"]
    assert policy_set.size == 1


def test_a_constraint_without_its_template_is_refused() -> None:
    constraint = GATEKEEPER_SUITES / "allowedrepos" / "constraint.yaml"
    with pytest.raises(PolicyLoadError, match="no template for kind K8sAllowedRepos"):
        load_policy_set([constraint])


def test_reserved_data_keys_are_refused(tmp_path: Path) -> None:
    write_files(tmp_path, {"data.yaml": "inventory: {}\n"})
    with pytest.raises(PolicyLoadError, match="reserved"):
        load_policy_set([tmp_path])


def test_an_empty_path_list_and_missing_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="empty policy set"):
        load_policy_set([])
    with pytest.raises(PolicyLoadError, match="no such file"):
        load_policy_set([tmp_path / "missing"])


def test_load_errors_are_config_errors_so_services_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_set([tmp_path / "missing"])
    assert outcome(caught.value).code == EXIT_USAGE


def test_hidden_folders_and_testdata_are_skipped(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "ok.rego": WARN_POLICY,
            ".git/x.rego": "not rego",
            "testdata/pod.yaml": "kind: Pod\n",
        },
    )
    policy_set = load_policy_set([tmp_path])
    assert [m.path for m in policy_set.modules] == [str(tmp_path / "ok.rego")]
    assert policy_set.data == {}
