"""Git policy sources: loaded only at commits the trust policy accepts, followed while running.

A real repository of policies signed with real gpg and ssh-keygen keys, a real evaluator, a
real SQLite audit store.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gatekeeper.audit import events, migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator, build_evaluator
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.policyset import policy_set_version
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.provenance import VerifiedCheckout
from gatekeeper.settings import Settings, load_settings
from tests.fixtures.gitrepo import Keys, SignedRepo, standard_signers, trust_policy_yaml

pytestmark = pytest.mark.integration


def _policy(label: str) -> str:
    return textwrap.dedent(
        f"""\
        package security.labels

        import rego.v1

        deny contains msg if {{
        \tinput.review.object.metadata.labels["{label}"] == "true"
        \tmsg := sprintf("%s is labelled {label}", [input.review.object.metadata.name])
        }}
        """
    )


def _labelled(label: str) -> dict[str, object]:
    return sync_input(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "shop", "labels": {label: "true"}},
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.fixture
def config(tmp_path: Path, keys: Keys, signed_repo: SignedRepo) -> Path:
    """A configuration whose only policies come from `signed_repo`'s folder `policies`,
    which alice (OpenPGP) and bob (SSH) may change."""
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys),
            rules=[
                {"paths": ["policies/**"], "signers": ["alice", "bob"]},
                {"paths": ["**"], "signers": ["*"]},
            ],
        )
    )
    document = {
        "policies": {
            "paths": [],
            "sources": [
                {
                    "name": "security",
                    "repo": str(signed_repo.path),
                    "path": "policies",
                    "trust": "trust.yaml",
                    "interval": "0s",
                }
            ],
            "cacheDir": "cache",
            "reloadInterval": "1s",
        }
    }
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _build(settings: Settings, store: AuditStore | None = None) -> PolicyEvaluator:
    return build_evaluator(settings, history=store, component="webhook", checkout=VerifiedCheckout)


def _watcher(evaluator: PolicyEvaluator, store: AuditStore) -> PolicyWatcher:
    return PolicyWatcher(evaluator, record=store.append, component="webhook", interval=1)


def _kinds(store: AuditStore) -> list[str]:
    return [r.kind for r in store.query(limit=100).records]


def test_a_signed_policy_commit_loads_and_decisions_name_it(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    first = signed_repo.commit(
        {"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("alice")
    )
    evaluator = _build(load_settings(config), store)
    assert not evaluator.evaluate(_labelled("forbidden")).allowed
    version = policy_set_version(evaluator.policy_set)
    assert version.endswith(f"+security@{first}")
    (origin,) = evaluator.policy_set.origins
    assert (origin.name, origin.revision, origin.signers) == ("security", first, ("alice",))

    watcher = _watcher(evaluator, store)
    assert watcher.check() == "unchanged"
    (loaded,) = store.query(kinds=["policy.loaded"]).records
    assert loaded.payload["origins"][0]["commit"] == first
    assert loaded.payload["version"] == version

    second = signed_repo.commit(
        {"policies/labels.rego": _policy("banned")}, signer=keys.signer("bob")
    )
    assert watcher.check() == "reloaded"
    assert evaluator.evaluate(_labelled("forbidden")).allowed
    assert not evaluator.evaluate(_labelled("banned")).allowed
    (reloaded,) = store.query(kinds=[events.POLICY_RELOADED]).records
    assert reloaded.payload["previous_version"] == version
    assert reloaded.payload["version"].endswith(f"+security@{second}")
    assert reloaded.payload["origins"] == [
        {"kind": "git", "name": "security", "repo": str(signed_repo.path), "commit": second,
         "signers": ["bob"]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("signer", "reason"),
    [(None, "unsigned"), ("eve", "unknown_key"), ("carol", "signer_not_allowed")],
)
def test_an_untrusted_policy_commit_is_refused_recorded_and_never_loaded(
    config: Path,
    keys: Keys,
    signed_repo: SignedRepo,
    store: AuditStore,
    signer: str | None,
    reason: str,
) -> None:
    first = signed_repo.commit(
        {"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("alice")
    )
    evaluator = _build(load_settings(config), store)
    watcher = _watcher(evaluator, store)
    version = policy_set_version(evaluator.policy_set)
    bad = signed_repo.commit(
        {"policies/labels.rego": _policy("banned")},
        signer=keys.signer(signer) if signer else None,
    )
    assert watcher.check() == "unchanged"
    assert watcher.check() == "unchanged"  # recorded once, however many looks
    assert policy_set_version(evaluator.policy_set) == version
    assert not evaluator.evaluate(_labelled("forbidden")).allowed
    assert evaluator.evaluate(_labelled("banned")).allowed
    (rejected,) = store.query(kinds=["policy.rejected"]).records
    assert (rejected.source, rejected.commit) == ("security", bad)
    assert rejected.payload["reason"] == "untrusted"
    assert rejected.payload["since"] == first
    assert rejected.payload["active_version"] == version
    assert [c["reason"] for c in rejected.payload["commits"]] == [reason]
    assert events.POLICY_RELOADED not in _kinds(store)


def test_a_good_commit_on_top_of_a_refused_one_is_refused_too(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    signed_repo.commit({"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("alice"))
    evaluator = _build(load_settings(config), store)
    watcher = _watcher(evaluator, store)
    bad = signed_repo.commit({"policies/labels.rego": _policy("x")}, signer=None)
    signed_repo.commit({"policies/labels.rego": _policy("banned")}, signer=keys.signer("alice"))
    assert watcher.check() == "unchanged"
    (rejected,) = store.query(kinds=["policy.rejected"]).records
    assert [c["sha"] for c in rejected.payload["commits"]] == [bad]


def test_a_force_pushed_policy_history_is_refused(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    base = signed_repo.commit({"policies/labels.rego": _policy("a")}, signer=keys.signer("alice"))
    loaded = signed_repo.commit({"policies/labels.rego": _policy("b")}, signer=keys.signer("alice"))
    evaluator = _build(load_settings(config), store)
    watcher = _watcher(evaluator, store)
    # A branch moved to a different, fully signed history: not a descendant of `loaded`.
    rewritten = signed_repo.commit(
        {"policies/labels.rego": _policy("c")}, signer=keys.signer("alice"), parents=(base,)
    )
    assert watcher.check() == "unchanged"
    assert not evaluator.evaluate(_labelled("b")).allowed
    (rejected,) = store.query(kinds=["policy.rejected"]).records
    assert rejected.commit == rewritten
    assert rejected.payload["reason"] == "history_rewritten"
    assert loaded in rejected.payload["detail"]


def test_a_restart_verifies_from_the_recorded_commit(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    base = signed_repo.commit({"policies/labels.rego": _policy("a")}, signer=keys.signer("alice"))
    loaded = signed_repo.commit({"policies/labels.rego": _policy("b")}, signer=keys.signer("alice"))
    evaluator = _build(load_settings(config), store)
    _watcher(evaluator, store).check()  # records policy.loaded naming `loaded`
    signed_repo.commit(
        {"policies/labels.rego": _policy("c")}, signer=keys.signer("alice"), parents=(base,)
    )
    with pytest.raises(
        PolicyLoadError, match=f"history rewritten: .* does not descend from {loaded}"
    ):
        _build(load_settings(config), store)
    # Without the audit log's memory it would have loaded: the history is fully signed.
    assert _build(load_settings(config)).policy_set.origins[0].revision != loaded


def test_a_start_on_an_untrusted_head_is_refused(
    config: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    signed_repo.commit({"policies/labels.rego": _policy("a")}, signer=keys.signer("mallory"))
    with pytest.raises(PolicyLoadError, match=r"policy source security .* refused: commit"):
        _build(load_settings(config))


def test_policies_that_do_not_load_keep_the_last_good_set(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    signed_repo.commit({"policies/labels.rego": _policy("a")}, signer=keys.signer("alice"))
    evaluator = _build(load_settings(config), store)
    watcher = _watcher(evaluator, store)
    version = policy_set_version(evaluator.policy_set)
    signed_repo.commit(
        {"policies/labels.rego": "package broken\n\ndeny contains"}, signer=keys.signer("bob")
    )
    assert watcher.check() == "failed"
    assert policy_set_version(evaluator.policy_set) == version
    assert events.POLICY_RELOAD_FAILED in _kinds(store)


def test_policy_sources_are_refused_where_git_is_not_wired(config: Path) -> None:
    with pytest.raises(PolicyLoadError, match=r"policies\.sources are configured"):
        build_evaluator(load_settings(config))


def test_an_admission_decision_names_the_policy_commit(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    from gatekeeper.admission.policies import RegoPolicies
    from gatekeeper.admission.ports import ProvenanceFacts
    from gatekeeper.admission.wire import parse_review

    commit = signed_repo.commit(
        {"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("bob")
    )
    policies = RegoPolicies.from_settings(load_settings(config), history=store)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop", "labels": {"forbidden": "true"}},
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u1",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "c",
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": config_map,
        },
    }
    outcome = policies.evaluate(parse_review(json.dumps(review).encode()), ProvenanceFacts())
    assert [f.policy for f in outcome.findings] == ["security.labels"]
    assert outcome.version.endswith(f"+security@{commit}")


def test_moving_the_branch_back_to_the_verified_commit_recovers(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    first = signed_repo.commit(
        {"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("alice")
    )
    evaluator = _build(load_settings(config), store)
    watcher = _watcher(evaluator, store)
    signed_repo.commit({"policies/labels.rego": _policy("x")}, signer=None)
    assert watcher.check() == "unchanged"  # refused
    signed_repo.commit({"policies/labels.rego": _policy("y")}, signer=keys.signer("alice"))
    assert watcher.check() == "unchanged"  # the unsigned commit is still in the range
    good = signed_repo.commit(
        {"policies/labels.rego": _policy("banned")}, signer=keys.signer("bob"), parents=(first,)
    )
    assert watcher.check() == "reloaded"
    assert policy_set_version(evaluator.policy_set).endswith(f"+security@{good}")
    assert len(store.query(kinds=["policy.rejected"]).records) == 2


def test_a_policy_source_on_embedded_opa(
    config: Path, keys: Keys, signed_repo: SignedRepo, store: AuditStore
) -> None:
    pytest.importorskip("opa_bindings")
    document = yaml.safe_load(config.read_text())
    document["policies"]["engine"] = "opa"
    config.write_text(yaml.safe_dump(document))
    signed_repo.commit({"policies/labels.rego": _policy("forbidden")}, signer=keys.signer("alice"))
    evaluator = _build(load_settings(config), store)
    assert evaluator.engine.name == "opa"
    assert not evaluator.evaluate(_labelled("forbidden")).allowed
    watcher = _watcher(evaluator, store)
    second = signed_repo.commit(
        {"policies/labels.rego": _policy("banned")}, signer=keys.signer("dave")
    )
    assert watcher.check() == "unchanged"  # dave is listed but not allowed on policies/**
    assert not evaluator.evaluate(_labelled("forbidden")).allowed
    (rejected,) = store.query(kinds=["policy.rejected"]).records
    assert rejected.commit == second
