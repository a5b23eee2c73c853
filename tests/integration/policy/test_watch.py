"""Policy files followed while running: a changed set loads, a broken one is kept out."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper.audit import events, migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import admission_input
from gatekeeper.policy.watch import PolicyWatcher
from tests.integration.policy.conftest import OpaRestServer

pytestmark = pytest.mark.integration


def _policy(label: str) -> str:
    return textwrap.dedent(
        f"""\
        # METADATA
        # title: Nothing labelled {label}
        # custom:
        #   enforcement: deny
        package tests.no_label

        import rego.v1

        deny contains msg if {{
        \tinput.review.object.metadata.labels["{label}"] == "true"
        \tmsg := sprintf("%s is labelled {label}", [input.review.object.metadata.name])
        }}
        """
    )


def _labelled(label: str) -> dict[str, object]:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop", "labels": {label: "true"}},
    }
    return admission_input({"operation": "CREATE", "object": config_map})


def _write(file: Path, text: str) -> None:
    """Write and move the modification time on, as a later save would."""
    before = file.stat().st_mtime_ns if file.exists() else 0
    file.write_text(text)
    os.utime(file, ns=(before + 10**9, before + 10**9))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    _write(folder / "label.rego", _policy("forbidden"))
    return folder


def test_a_changed_policy_is_loaded_and_recorded(folder: Path, store: AuditStore) -> None:
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    watcher = PolicyWatcher(evaluator, record=store.append, component="webhook", interval=10)
    assert not evaluator.evaluate(_labelled("forbidden")).allowed

    assert watcher.check() == "unchanged"
    _write(folder / "label.rego", _policy("banned"))
    assert watcher.check() == "reloaded"

    assert evaluator.evaluate(_labelled("forbidden")).allowed
    assert not evaluator.evaluate(_labelled("banned")).allowed
    (record,) = store.query(kinds=[events.POLICY_RELOADED]).records
    assert record.actor == "gatekeeper-webhook"
    assert record.payload["version"] != record.payload["previous_version"]
    assert record.payload["sources"] == [str(folder)]
    assert watcher.check() == "unchanged"


def test_a_change_made_before_the_watcher_starts_is_still_loaded(folder: Path) -> None:
    """A process loads its set, then starts following the files: a file saved in between
    (a webhook worker still starting while the policy changed) must not be taken as the
    state the active set was read from."""
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    _write(folder / "label.rego", _policy("banned"))
    watcher = PolicyWatcher(evaluator, record=None, component="webhook", interval=10)

    assert watcher.check() == "reloaded"
    assert not evaluator.evaluate(_labelled("banned")).allowed
    assert watcher.check() == "unchanged"


def test_a_broken_policy_is_refused_and_the_last_good_set_stays(
    folder: Path, store: AuditStore
) -> None:
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    watcher = PolicyWatcher(evaluator, record=store.append, component="reconciler", interval=10)

    _write(folder / "label.rego", "package tests.no_label\n\ndeny contains msg if {\n")
    assert watcher.check() == "failed"
    # Only a further change is tried again.
    assert watcher.check() == "unchanged"

    assert not evaluator.evaluate(_labelled("forbidden")).allowed
    (record,) = store.query(kinds=[events.POLICY_RELOAD_FAILED]).records
    assert "label.rego" in record.payload["error"]
    assert record.payload["component"] == "reconciler"
    _write(folder / "label.rego", _policy("banned"))
    assert watcher.check() == "reloaded"
    assert not evaluator.evaluate(_labelled("banned")).allowed


def test_a_new_file_counts_as_a_change_and_only_when_due(folder: Path) -> None:
    now = [100.0]
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    watcher = PolicyWatcher(
        evaluator, record=None, component="webhook", interval=10, clock=lambda: now[0]
    )
    (folder / "data.yaml").write_text("limits:\n  max: 3\n")

    now[0] += 5
    assert watcher.check_if_due() == "unchanged"
    now[0] += 6
    assert watcher.check_if_due() == "reloaded"
    assert evaluator.policy_set.data["limits"] == {"max": 3}


def test_an_interval_of_zero_never_reloads(folder: Path) -> None:
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    watcher = PolicyWatcher(evaluator, record=None, component="webhook", interval=0)
    _write(folder / "label.rego", _policy("banned"))
    assert watcher.check_if_due() == "unchanged"
    assert not evaluator.evaluate(_labelled("forbidden")).allowed


def test_an_engine_that_cannot_take_the_set_gets_it_at_the_next_look(
    folder: Path, store: AuditStore, opa_rest_server: OpaRestServer
) -> None:
    evaluator = PolicyEvaluator.from_paths(
        [folder], engine=create_engine("opa-server", opa_url=opa_rest_server.url)
    )
    watcher = PolicyWatcher(evaluator, record=store.append, component="webhook", interval=10)
    _write(folder / "label.rego", _policy("banned"))

    opa_rest_server.unavailable = True
    assert watcher.check() == "failed"
    assert watcher.check() == "failed"  # tried again, recorded once
    opa_rest_server.unavailable = False
    assert watcher.check() == "reloaded"

    assert not evaluator.evaluate(_labelled("banned")).allowed
    kinds = [
        r.kind
        for r in store.query(kinds=[events.POLICY_RELOAD_FAILED, events.POLICY_RELOADED]).records
    ]
    assert kinds == [events.POLICY_RELOAD_FAILED, events.POLICY_RELOADED]


def test_the_reload_record_names_the_templates_embedded_opa_runs(
    folder: Path, store: AuditStore
) -> None:
    from tests.unit.policy.conftest import GATEKEEPER_SUITES, require_opa

    require_opa()
    evaluator = PolicyEvaluator.from_paths([folder], engine=create_engine("regorus"))
    watcher = PolicyWatcher(evaluator, record=store.append, component="webhook", interval=10)
    source = GATEKEEPER_SUITES / "cidrmerge"
    for name in ("template.yaml", "constraint.yaml"):
        _write(folder / name, (source / name).read_text())
    assert watcher.check() == "reloaded"
    (record,) = store.query(kinds=[events.POLICY_RELOADED]).records
    assert list(record.payload["engine_fallbacks"]) == ["K8sEgressRanges"]
    assert "net.cidr_merge" in record.payload["engine_fallbacks"]["K8sEgressRanges"]
