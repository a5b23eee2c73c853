"""OPA bundles named in the configuration: local files and files of a verified policy source,
signed ones checked with the configured key, followed while running."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.audit import events, migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.errors import ConfigError
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import build_evaluator
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.policyset import policy_set_version
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.provenance import VerifiedCheckout
from gatekeeper.settings import load_settings
from tests.fixtures.gitrepo import Keys, SignedRepo, standard_signers, trust_policy_yaml
from tests.unit.policy.bundles import basic_files, public_pem, rsa_key, signatures, tar_gz

pytestmark = pytest.mark.integration

KEY = rsa_key()


def _pod(image: str) -> dict[str, Any]:
    return sync_input(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }
    )


def _signed(revision: str, key: Any = KEY) -> bytes:
    files = basic_files(revision)
    return tar_gz({**files, ".signatures.json": signatures(files, key)})


def _write(file: Path, content: bytes) -> None:
    before = file.stat().st_mtime_ns if file.exists() else 0
    file.write_bytes(content)
    os.utime(file, ns=(before + 10**9, before + 10**9))


def _config(tmp_path: Path, policies: dict[str, Any]) -> Path:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump({"policies": {"paths": [], **policies}}))
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.mark.parametrize("engine", ["regorus", "opa"])
def test_a_signed_bundle_is_loaded_followed_and_a_tampered_one_kept_out(
    tmp_path: Path, store: AuditStore, engine: str
) -> None:
    if engine == "opa":
        pytest.importorskip("opa_bindings")
    (tmp_path / "bundle.pem").write_bytes(public_pem(KEY))
    _write(tmp_path / "authz.tar.gz", _signed("r1"))
    bundle = {"path": "authz.tar.gz", "verificationKey": "bundle.pem"}
    settings = load_settings(_config(tmp_path, {"bundles": [bundle], "engine": engine}))
    evaluator = build_evaluator(settings)
    assert not evaluator.evaluate(_pod("docker.io/web:1")).allowed
    assert evaluator.evaluate(_pod("registry.example.com/web:1")).allowed
    watcher = PolicyWatcher(evaluator, record=store.append, component="reconciler", interval=1)

    _write(tmp_path / "authz.tar.gz", _signed("r2"))
    assert watcher.check() == "reloaded"
    (reloaded,) = store.query(kinds=[events.POLICY_RELOADED]).records
    (origin,) = reloaded.payload["origins"]
    assert origin["kind"] == "bundle"
    assert origin["revision"] == "r2"
    assert origin["signed_by"] == ["verification key"]
    assert origin["digest"].startswith("sha256:")

    version = policy_set_version(evaluator.policy_set)
    _write(tmp_path / "authz.tar.gz", _signed("r3", rsa_key()))
    assert watcher.check() == "failed"
    assert policy_set_version(evaluator.policy_set) == version
    (failed,) = store.query(kinds=[events.POLICY_RELOAD_FAILED]).records
    assert "does not verify with the configured key" in failed.payload["error"]


def test_an_unsigned_bundle_is_refused_at_start_when_a_key_is_configured(tmp_path: Path) -> None:
    (tmp_path / "bundle.pem").write_bytes(public_pem(KEY))
    _write(tmp_path / "authz.tar.gz", tar_gz(basic_files()))
    bundle = {"path": "authz.tar.gz", "verificationKey": "bundle.pem"}
    with pytest.raises(PolicyLoadError, match=r"authz\.tar\.gz: no \.signatures\.json"):
        build_evaluator(load_settings(_config(tmp_path, {"bundles": [bundle]})))


def test_a_key_for_another_algorithm_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle.pem").write_bytes(public_pem(KEY))
    _write(tmp_path / "authz.tar.gz", _signed("r1"))
    bundle = {"path": "authz.tar.gz", "verificationKey": "bundle.pem", "signingAlg": "ES256"}
    with pytest.raises(PolicyLoadError, match="ES256 needs an EC public key"):
        build_evaluator(load_settings(_config(tmp_path, {"bundles": [bundle]})))


def test_a_bundle_read_from_a_verified_policy_source(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    # The fixture writes text files; the archive is put in place beside them, then committed.
    signed_repo.commit({"policies/README": "bundles"}, signer=keys.signer("alice"))
    (signed_repo.path / "policies" / "authz.tar.gz").write_bytes(_signed("git-1"))
    commit = signed_repo.commit({}, signer=keys.signer("alice"))
    (tmp_path / "trust.yaml").write_text(
        trust_policy_yaml(
            signers=standard_signers(keys), rules=[{"paths": ["**"], "signers": ["alice"]}]
        )
    )
    (tmp_path / "bundle.pem").write_bytes(public_pem(KEY))
    source = {"name": "security", "repo": str(signed_repo.path), "path": "policies",
              "trust": "trust.yaml", "interval": "0s"}  # fmt: skip
    bundle = {"source": "security", "path": "authz.tar.gz", "verificationKey": "bundle.pem"}
    policies = {"sources": [source], "bundles": [bundle], "cacheDir": "cache"}
    evaluator = build_evaluator(
        load_settings(_config(tmp_path, policies)), checkout=VerifiedCheckout
    )
    assert not evaluator.evaluate(_pod("docker.io/web:1")).allowed
    kinds = {(o.kind, o.revision) for o in evaluator.policy_set.origins}
    assert kinds == {("git", commit), ("bundle", "git-1")}
    assert policy_set_version(evaluator.policy_set).endswith(f"+security@{commit}")

    escaping = {**bundle, "path": "../../../authz.tar.gz"}
    policies = {"sources": [source], "bundles": [escaping], "cacheDir": "cache"}
    with pytest.raises(PolicyLoadError, match="outside policy source security"):
        build_evaluator(load_settings(_config(tmp_path, policies)), checkout=VerifiedCheckout)


def test_bundle_and_source_settings_are_checked(tmp_path: Path) -> None:
    bundle = {"source": "nowhere", "path": "authz.tar.gz"}
    with pytest.raises(ConfigError, match="no policy source named nowhere"):
        load_settings(_config(tmp_path, {"bundles": [bundle]}))
    source = {"name": "a", "repo": "r", "trust": "t.yaml"}
    with pytest.raises(ConfigError, match="policy source names must be unique"):
        load_settings(_config(tmp_path, {"sources": [source, source]}))
    settings = load_settings(_config(tmp_path, {"sources": [source], "bundles": [
        {"path": "b.tar.gz", "verificationKey": "k.pem"}]}))  # fmt: skip
    assert settings.policies.sources[0].trust == tmp_path / "t.yaml"
    assert settings.policies.sources[0].repo == str(tmp_path / "r")
    assert settings.policies.bundles[0].path == tmp_path / "b.tar.gz"
    assert settings.policies.bundles[0].verification_key == tmp_path / "k.pem"
    assert json.loads(settings.policies.model_dump_json())["sources"][0]["interval"] == 60.0
