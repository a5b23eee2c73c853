"""The v0 to v1 upgrade used for OPA keeps a module's meaning: generated v0 modules evaluate
to the same document on regorus (reading v0 natively) and on OPA (reading the upgrade)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.policy import rego_source
from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.engines import create_engine

from .conftest import make_engine, require_opa

names = st.sampled_from(["alpha", "beta", "gamma", "delta"])
conditions = st.sampled_from(
    ["input.n > 1", "input.n < 5", 'input.s == "x"', "count(input.items) > 0", "true"]
)


def rule(name: str, condition: str, form: int) -> str:
    if form == 0:
        return f"{name}_flag {{ {condition} }}"
    if form == 1:
        return f'{name}_set[msg] {{ {condition}; msg := "{name}" }}'
    if form == 2:
        return f'{name}_obj[{{"msg": m}}] {{ {condition}; m := sprintf("%v", [input.n]) }}'
    if form == 3:
        return f"{name}_fn(x) = y {{ {condition}; y := x }}\n{name}_use = v {{ v := {name}_fn(2) }}"
    if form == 4:
        return f'{name}_else = "a" {{ {condition} }} else = "b" {{ true }}'
    if form == 5:
        # A rule with no body right before a partial set.
        return f"{name}_k := 2\n{name}_s[x] {{ {condition}; x := {name}_k }}"
    # A function whose else has no body, used by a partial set.
    return (
        f"{name}_g(x) := 1 {{ x > 2 }} else := 0\n"
        f'{name}_h[{{"msg": v}}] {{ {condition}; v := {name}_g(input.n) }}'
    )


@st.composite
def modules(draw: st.DrawFn) -> str:
    # One rule per name: two differently conditioned `else` chains of one complete rule are a
    # conflict in Rego itself, which engines report at different times.
    specs = draw(
        st.lists(
            st.tuples(names, conditions, st.integers(0, 6)),
            min_size=1,
            max_size=4,
            unique_by=lambda spec: spec[0],
        )
    )
    body = [rule(*spec) for spec in specs]
    return "package gen\n\n" + "\n\n".join(body) + "\n"


inputs = st.fixed_dictionaries(
    {
        "n": st.integers(0, 6),
        "s": st.sampled_from(["x", "y"]),
        "items": st.lists(st.integers(0, 3), max_size=2),
    }
)


@settings(max_examples=40, deadline=None)
@given(modules(), inputs)
def test_upgraded_modules_mean_the_same_on_opa(source: str, document: dict[str, object]) -> None:
    require_opa()
    upgraded = rego_source.upgrade_v0(source)
    assert rego_source.upgrade_v0(upgraded) == upgraded
    regorus = make_engine("regorus-interpreter")
    opa = create_engine("opa")
    try:
        regorus.load([RegoModule(path="gen.rego", source=source, rego_v0=True)], {})
        opa.load([RegoModule(path="gen.rego", source=source, rego_v0=True)], {})
        assert _sorted(regorus.query("data.gen", document)) == _sorted(
            opa.query("data.gen", document)
        )
    finally:
        regorus.close()
        opa.close()


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return {k: _sorted(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_sorted(v) for v in value), key=repr)
    return value
