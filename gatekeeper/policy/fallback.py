"""Which parts of a policy set the default engine cannot run, so that embedded OPA runs them.

regorus reads nearly all Rego, but not all: some v0 forms Gatekeeper templates use (bodies
chained to one head, a reference followed by `(` on the next line) and a few OPA built-ins
(`net.cidr_merge`, ...) are refused. Rather than refuse a template Gatekeeper itself runs,
the gatekeeper runs that template on the embedded OPA engine and says so: in the log, in
`policy verify`'s output, and in the `policy.reloaded` audit record (`engine_fallbacks`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.policyset import PolicySet

log = logging.getLogger(__name__)

FALLBACK_ENGINE = "opa"
# The key naming plain Rego policies (not templates) in `Split.reasons`.
PLAIN_POLICIES = "*"
_UNKNOWN_FUNCTION = re.compile(r"Unknown function[^\n]*?'(?P<name>[\w.]+)'")


@dataclass(frozen=True)
class Split:
    """A policy set cut in two: what the default engine runs, and what embedded OPA runs,
    with the reason for each template kind sent to OPA (`*` when plain policies are)."""

    primary: PolicySet
    fallback: PolicySet | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)


def fallback_available() -> bool:
    """Whether the embedded OPA engine can be loaded here."""
    from gatekeeper.policy.engines.opa_embedded import available

    return available()


def unknown_function_hint(message: str) -> str:
    """`message`, plus a note when it names a function regorus lacks but OPA may have."""
    match = _UNKNOWN_FUNCTION.search(message)
    if match is None or "engine opa" in message:
        return message
    from gatekeeper.policy.engines.opa_embedded import INSTALL_HINT, available

    how = (
        "it runs there automatically"
        if available()
        else f"it is not installed here ({INSTALL_HINT})"
    )
    return (
        f"{message}\n(the default engine, regorus, does not have {match.group('name')}; "
        f"if it is an OPA built-in, the embedded OPA engine (policies.engine: opa) has it: {how})"
    )


def split_for_regorus(policy_set: PolicySet, data: Mapping[str, Any]) -> Split:
    """Try each template on its own on regorus; the ones it refuses go to OPA. When the
    plain policies themselves are refused, the whole set goes to OPA."""
    from gatekeeper.policy.engines.regorus import RegorusEngine

    reasons: dict[str, str] = {}
    for template in policy_set.templates:
        try:
            RegorusEngine().load(
                template.modules(), data, entry_points=(f"data.{template.package}.violation",)
            )
        except PolicyLoadError as exc:
            reasons[template.kind] = str(exc)
    kept = tuple(t for t in policy_set.templates if t.kind not in reasons)
    if policy_set.modules:
        try:
            RegorusEngine().load(policy_set.modules, data)
        except PolicyLoadError as exc:
            everything = {t.kind: "runs with the plain policies" for t in policy_set.templates}
            return Split(
                primary=dataclasses.replace(
                    policy_set, modules=(), policies=(), templates=(), constraints=()
                ),
                fallback=policy_set,
                reasons={PLAIN_POLICIES: str(exc), **everything},
            )
    if not reasons:
        return Split(primary=policy_set)
    return Split(
        primary=_with_templates(policy_set, kept, plain=True),
        fallback=_with_templates(
            policy_set, tuple(t for t in policy_set.templates if t.kind in reasons), plain=False
        ),
        reasons=reasons,
    )


def _with_templates(policy_set: PolicySet, templates: tuple[Any, ...], *, plain: bool) -> PolicySet:
    kinds = {t.kind for t in templates}
    return dataclasses.replace(
        policy_set,
        modules=policy_set.modules if plain else (),
        policies=policy_set.policies if plain else (),
        templates=templates,
        constraints=tuple(c for c in policy_set.constraints if c.kind in kinds),
    )


def log_split(split: Split) -> None:
    for kind, reason in split.reasons.items():
        first_line = reason.splitlines()[0] if reason else ""
        what = "plain policies" if kind == PLAIN_POLICIES else f"template {kind}"
        log.warning("%s runs on embedded OPA: regorus refuses it: %s", what, first_line)
