"""The demo's manifests against the shipped policy library, as the reconciler evaluates them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from gatekeeper.demo import manifests
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import Provenance, sync_input

TRUSTED = Provenance(
    source="shop",
    commit="c" * 40,
    verified=True,
    trusted=True,
    signature_format="openpgp",
    signer="alice",
)


@pytest.fixture(scope="module")
def library() -> Iterator[PolicyEvaluator]:
    evaluator = PolicyEvaluator.from_paths(
        [manifests.shipped_policies()], engine=create_engine("regorus")
    )
    yield evaluator
    evaluator.engine.close()


def _decide(library: PolicyEvaluator, text: str) -> list[str]:
    decision = library.evaluate(sync_input(yaml.safe_load(text), provenance=TRUSTED))
    return [f"{m.policy}: {m.msg}" for m in decision.messages if m.action in ("deny", "warn")]


def test_every_object_of_the_first_commit_passes_the_library_without_a_warning(
    library: PolicyEvaluator,
) -> None:
    for path, text in manifests.initial_files("shop").items():
        assert _decide(library, text) == [], path


def test_the_scaled_deployment_passes_too(library: PolicyEvaluator) -> None:
    assert _decide(library, manifests.deployment("shop", replicas=3)) == []


def test_the_latest_tag_is_denied_by_the_no_latest_tag_policy_alone(
    library: PolicyEvaluator,
) -> None:
    bad = manifests.deployment("shop", image="registry.example.com/web:latest")

    (message,) = _decide(library, bad)

    assert message.startswith("library.no_latest_tag: ")
