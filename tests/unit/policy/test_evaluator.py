from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.policy.decision import Decision
from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator, build_evaluator
from gatekeeper.policy.inputs import Provenance, admission_input, sync_input
from gatekeeper.settings import load_settings

from .conftest import FIXTURES, GATEKEEPER_SUITES, LIBRARY, write_files

TRUSTED = Provenance(source="apps", commit="c" * 40, verified=True, trusted=True)

ACTIONS = {
    "deny.rego": """package team.blocking

import rego.v1

deny contains "blocked" if input.review.object.kind == "Pod"
warn contains "also a warning" if input.review.object.kind == "Pod"
""",
    "warn.rego": """# METADATA
# custom:
#   enforcement: warn
package team.warning

import rego.v1

deny contains "only a warning" if input.review.object.kind == "Pod"
""",
    "dryrun.rego": """# METADATA
# custom:
#   enforcement: dryrun
package team.trial

import rego.v1

violation contains {"msg": "would block", "details": {"field": "spec"}} if {
	input.review.object.kind == "Pod"
}
warn contains "trial warning" if input.review.object.kind == "Pod"
""",
}

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}}


@dataclass
class RecordingReporter:
    """Remembers reload failures (a double for the audit store port)."""

    failures: list[tuple[list[str], str]] = field(default_factory=list)

    def policy_reload_failed(self, *, sources: Sequence[str], error: str) -> None:
        self.failures.append((list(sources), error))


def fixture_input(name: str, **kwargs: Any) -> dict[str, Any]:
    manifest = yaml.safe_load((FIXTURES / name).read_text())
    return sync_input(manifest, **kwargs)


def test_every_message_names_its_policy_and_action(tmp_path: Path, engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([write_files(tmp_path, ACTIONS)], engine=engine)
    decision = evaluator.evaluate(sync_input(POD))
    found = {(m.policy, m.rule, m.action, m.msg) for m in decision.messages}
    assert found == {
        ("team.blocking", "deny", "deny", "blocked"),
        ("team.blocking", "warn", "warn", "also a warning"),
        ("team.warning", "deny", "warn", "only a warning"),
        ("team.trial", "violation", "dryrun", "would block"),
        ("team.trial", "warn", "dryrun", "trial warning"),
    }
    assert not decision.allowed
    (violation,) = [m for m in decision.messages if m.rule == "violation"]
    assert violation.details == {"field": "spec"}


def test_only_deny_action_messages_block(tmp_path: Path, engine: Engine) -> None:
    files = {k: v for k, v in ACTIONS.items() if k != "deny.rego"}
    evaluator = PolicyEvaluator.from_paths([write_files(tmp_path, files)], engine=engine)
    decision = evaluator.evaluate(sync_input(POD))
    assert decision.allowed
    assert len(decision.messages) == 3


def test_a_compliant_deployment_from_a_trusted_commit_is_allowed(engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    decision = evaluator.evaluate(fixture_input("deployment-compliant.yaml", provenance=TRUSTED))
    assert decision.allowed, decision.summary()
    assert decision.messages == ()
    assert decision.policies_evaluated >= 15


def test_the_same_deployment_from_an_unverified_commit_is_denied(engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    decision = evaluator.evaluate(fixture_input("deployment-compliant.yaml"))
    assert [m.policy for m in decision.denials] == ["library.provenance_verified"]


def test_an_insecure_deployment_is_denied_by_many_policies(engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    decision = evaluator.evaluate(fixture_input("deployment-insecure.yaml", provenance=TRUSTED))
    denied_by = {m.policy for m in decision.denials}
    assert {
        "library.no_latest_tag",
        "library.no_privileged",
        "library.no_host_namespaces",
        "library.no_host_path",
        "library.no_host_ports",
        "library.run_as_non_root",
        "library.no_default_namespace",
        "library.drop_capabilities",
        "library.container_resources",
        "library.required_labels",
        "library.no_privilege_escalation",
    } <= denied_by
    assert {m.policy for m in decision.warnings} == {
        "library.read_only_root_filesystem",
        "library.probes_configured",
    }
    assert decision.subject == "Deployment/default/legacy"


def test_a_bad_policy_set_is_refused_at_start(tmp_path: Path, engine: Engine) -> None:
    write_files(tmp_path, {"bad.rego": "package bad\n\nimport rego.v1\n\ndeny contains x if {\n"})
    with pytest.raises(PolicyLoadError, match=r"bad\.rego:\d"):
        PolicyEvaluator.from_paths([tmp_path], engine=engine)


def test_a_failed_reload_keeps_the_last_good_set_and_reports(
    tmp_path: Path, engine: Engine
) -> None:
    folder = write_files(tmp_path, {"warn.rego": ACTIONS["warn.rego"]})
    reporter = RecordingReporter()
    evaluator = PolicyEvaluator.from_paths([folder], engine=engine, reporter=reporter)
    (folder / "broken.rego").write_text("package broken\n\nimport rego.v1\n\nx := {\n")
    assert evaluator.reload() is False
    ((sources, error),) = reporter.failures
    assert sources == [str(folder)]
    assert "broken.rego" in error
    decision = evaluator.evaluate(sync_input(POD))
    assert [m.msg for m in decision.messages] == ["only a warning"]


def test_a_good_reload_replaces_the_set(tmp_path: Path, engine: Engine) -> None:
    folder = write_files(tmp_path, {"warn.rego": ACTIONS["warn.rego"]})
    evaluator = PolicyEvaluator.from_paths([folder], engine=engine)
    write_files(folder, {"deny.rego": ACTIONS["deny.rego"]})
    assert evaluator.reload() is True
    assert not evaluator.evaluate(sync_input(POD)).allowed


def test_constraints_apply_only_where_they_match(engine: Engine) -> None:
    folder = GATEKEEPER_SUITES / "allowedrepos"
    evaluator = PolicyEvaluator.from_paths(
        [folder / "template.yaml", folder / "constraint.yaml"], engine=engine
    )
    outside = yaml.safe_load((folder / "pod-disallowed.yaml").read_text())
    decision = evaluator.evaluate(sync_input(outside))
    assert {m.policy for m in decision.messages} == {"K8sAllowedRepos/repo-is-internal"}
    assert len(decision.denials) == 2
    outside["metadata"]["namespace"] = "staging"
    assert evaluator.evaluate(sync_input(outside)).messages == ()


def test_the_inventory_feeds_data_inventory_and_namespace_selectors(engine: Engine) -> None:
    folder = GATEKEEPER_SUITES / "uniqueingresshost"
    evaluator = PolicyEvaluator.from_paths(
        [folder / "template.yaml", folder / "constraint.yaml"], engine=engine
    )
    ingress = sync_input(yaml.safe_load((folder / "conflicting-ingress.yaml").read_text()))
    assert evaluator.evaluate(ingress).messages == ()
    inventory = [
        *yaml.safe_load_all((folder / "namespaces.yaml").read_text()),
        yaml.safe_load((folder / "existing-ingress.yaml").read_text()),
    ]
    evaluator.set_inventory(inventory)
    (message,) = evaluator.evaluate(ingress).messages
    assert "shop.example.com" in message.msg
    evaluator.set_inventory([])
    assert evaluator.evaluate(ingress).messages == ()


def test_admission_and_sync_inputs_get_the_same_verdict_from_the_library(engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    manifest = yaml.safe_load((FIXTURES / "statefulset.yaml").read_text())
    at_sync = evaluator.evaluate(sync_input(manifest, provenance=TRUSTED))
    request = {
        "uid": "1",
        "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
        "namespace": "data",
        "name": "db",
        "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": []},
        "object": manifest,
    }
    at_admission = evaluator.evaluate(admission_input(request))
    assert at_sync == at_admission


def test_decisions_can_be_taken_from_async_code_and_worker_threads(engine: Engine) -> None:
    evaluator = PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    document = fixture_input("daemonset.yaml", provenance=TRUSTED)
    expected = evaluator.evaluate(document)

    async def many() -> list[Decision]:
        in_loop = [evaluator.evaluate(document) for _ in range(3)]
        in_threads = await asyncio.gather(
            *(asyncio.to_thread(evaluator.evaluate, document) for _ in range(8))
        )
        return [*in_loop, *in_threads]

    assert all(decision == expected for decision in asyncio.run(many()))


def test_reloads_while_threads_evaluate_never_break_a_decision(
    tmp_path: Path, engine: Engine
) -> None:
    folder = write_files(tmp_path, {"warn.rego": ACTIONS["warn.rego"]})
    evaluator = PolicyEvaluator.from_paths([folder], engine=engine)
    outcomes: list[frozenset[str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def evaluate_until_stopped() -> None:
        try:
            while not stop.is_set():
                outcomes.append(
                    frozenset(m.msg for m in evaluator.evaluate(sync_input(POD)).messages)
                )
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=evaluate_until_stopped) for _ in range(3)]
    for worker in workers:
        worker.start()
    for step in range(4):
        if step % 2 == 0:
            write_files(folder, {"deny.rego": ACTIONS["deny.rego"]})
        else:
            (folder / "deny.rego").unlink()
        assert evaluator.reload()
    stop.set()
    for worker in workers:
        worker.join()
    assert errors == []
    allowed = {
        frozenset({"only a warning"}),
        frozenset({"only a warning", "blocked", "also a warning"}),
    }
    assert outcomes and set(outcomes) <= allowed


def test_the_settings_choose_paths_and_engine(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "team-policies", {"warn.rego": ACTIONS["warn.rego"]})
    config = tmp_path / "gatekeeper.yaml"
    config.write_text("policies:\n  paths: [team-policies/]\n  engine: regorus\n")
    evaluator = build_evaluator(load_settings(config))
    assert evaluator.engine.name == "regorus"
    assert evaluator.policy_set.sources == (str(folder),)
    assert [m.msg for m in evaluator.evaluate(sync_input(POD)).messages] == ["only a warning"]
