from __future__ import annotations

from gatekeeper.policy import rego_source

MODULE = """# METADATA
# title: Example
# custom:
#   enforcement: warn
package team.checks.images # trailing comment

import rego.v1

default allow := false

deny contains msg if {
	some c in input.containers
	deny_helper := "not a rule"
	msg := sprintf("%s {", [c.name])
}

warn contains "w" if true
"""


def test_the_package_path_is_read_with_its_dots() -> None:
    assert rego_source.package_of(MODULE) == "team.checks.images"


def test_a_module_without_package_has_none() -> None:
    assert rego_source.package_of("# package a.b\nx := 1\n") is None


def test_top_level_rules_include_defaults_but_not_body_statements() -> None:
    assert rego_source.top_level_rules(MODULE) == {"allow", "deny", "warn"}


def test_the_metadata_block_above_the_package_is_read_as_yaml() -> None:
    metadata = rego_source.package_metadata(MODULE)
    assert metadata == {"title": "Example", "custom": {"enforcement": "warn"}}


def test_a_module_without_metadata_has_an_empty_block() -> None:
    assert rego_source.package_metadata("package a\n") == {}


def test_rego_v1_imports_are_recognised() -> None:
    assert rego_source.declares_rego_v1(MODULE)
    assert not rego_source.declares_rego_v1("package a\nx := 1\n")


def test_v0_partial_sets_become_contains_rules_with_if() -> None:
    source = 'package a\nviolation[{"msg": msg}] {\n  msg := "x"\n}\ndeny[m] { m := "y" }\n'
    upgraded = rego_source.upgrade_v0(source)
    assert 'violation contains {"msg": msg} if {' in upgraded
    assert 'deny contains m if { m := "y" }' in upgraded


def test_v0_complete_rules_functions_and_else_get_if() -> None:
    source = (
        "package a\ndefault allow = false\nallow { true }\nf(x) = y { y := x }\n"
        'g(x) = "a" { x == 1 } else = "b" { true }\nobj[k] = v { k := "a"; v := 1 }\n'
        'p = {"a": 1} { true }\n'
    )
    upgraded = rego_source.upgrade_v0(source)
    assert "default allow = false\n" in upgraded
    assert "allow if { true }" in upgraded
    assert "f(x) = y if { y := x }" in upgraded
    assert 'g(x) = "a" if { x == 1 } else = "b" if { true }' in upgraded
    assert 'obj[k] = v if { k := "a"; v := 1 }' in upgraded
    assert 'p = {"a": 1} if { true }' in upgraded


def test_the_v0_upgrade_leaves_strings_comments_and_v1_rules_alone() -> None:
    source = 'package a\n# deny[x] { comment }\nx := "deny[m] {"\nallow if { true }\n'
    assert rego_source.upgrade_v0(source) == source


def test_import_aliases_expand_to_full_data_paths() -> None:
    source = (
        "package a\n\nimport rego.v1\nimport data.lib.k8s\nimport data.lib.images as img\n"
        "import input.review\n\n"
        "deny contains m if {\n\tsome c in k8s.containers\n\timg.tag(c.image) == k8s.tags[0]\n"
        "\tm := review.name\n\tx := data.k8s.other\n}\n"
    )
    expanded = rego_source.expand_import_aliases(source)
    assert "some c in data.lib.k8s.containers" in expanded
    assert "data.lib.images.tag(c.image) == data.lib.k8s.tags[0]" in expanded
    assert "m := review.name" in expanded
    assert "x := data.k8s.other" in expanded
    assert expanded.count("\n") == source.count("\n")


def test_a_module_without_data_imports_is_left_as_it_is() -> None:
    assert rego_source.expand_import_aliases(MODULE) == MODULE
