from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.policy.gatekeeper_crd import TemplateError, parse_constraint, parse_template


def template(rego: str, libs: list[str] | None = None, name: str = "k8sthing") -> dict[str, Any]:
    target: dict[str, Any] = {"target": "admission.k8s.gatekeeper.sh", "rego": rego}
    if libs is not None:
        target["libs"] = libs
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": name},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sThing"}}}, "targets": [target]},
    }


REGO = 'package k8sthing\nimport data.lib.helpers\nviolation[{"msg": "x"}] { helpers.bad }\n'
LIB = "package lib.helpers\nbad { true }\n"


def test_template_rego_is_moved_under_its_own_package() -> None:
    parsed = parse_template(template(REGO, [LIB]), origin="t.yaml")
    main, lib = parsed.modules()
    assert main.package == "gatekeeper_internal.templates.k8sthing"
    assert "import data.gatekeeper_internal.templates.k8sthing.lib.helpers" in main.source
    assert lib.package == "gatekeeper_internal.templates.k8sthing.lib.helpers"
    assert main.rego_v0 and lib.rego_v0
    assert main.path == "t.yaml#k8sthing"


def test_templates_opting_into_v1_are_not_parsed_as_v0() -> None:
    v1 = 'package k8sthing\nimport rego.v1\nviolation contains {"msg": "x"} if true\n'
    (module,) = parse_template(template(v1), origin="t.yaml").modules()
    assert not module.rego_v0


def test_the_code_form_of_newer_templates_is_read() -> None:
    document = template(REGO)
    target = document["spec"]["targets"][0]
    target["code"] = [{"engine": "Rego", "source": {"rego": target.pop("rego"), "libs": [LIB]}}]
    assert parse_template(document, origin="t.yaml").libs == (LIB,)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (template(REGO, name="other"), "must be the lower-case kind"),
        (template("package k8sthing\ndeny[m] { m := 1 }\n"), "no `violation` rule"),
        (template(REGO, ["package helpers\nx := 1\n"]), "must start with `lib.`"),
    ],
)
def test_malformed_templates_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(document, origin="t.yaml").modules()


def test_constraints_default_to_deny_and_keep_match_and_parameters() -> None:
    parsed = parse_constraint(
        {
            "apiVersion": "constraints.gatekeeper.sh/v1beta1",
            "kind": "K8sThing",
            "metadata": {"name": "c"},
            "spec": {"match": {"namespaces": ["a"]}, "parameters": {"n": 1}},
        },
        origin="c.yaml",
    )
    assert (parsed.action, parsed.match, parsed.parameters) == (
        "deny",
        {"namespaces": ["a"]},
        {"n": 1},
    )


def test_a_constraint_with_an_unknown_action_is_refused() -> None:
    document = {
        "kind": "K8sThing",
        "metadata": {"name": "c"},
        "spec": {"enforcementAction": "scoped"},
    }
    with pytest.raises(TemplateError, match="scoped"):
        parse_constraint(document, origin="c.yaml")
