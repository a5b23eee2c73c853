"""Loading and validating the trust policy file, and choosing the rule for a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.cli import EXIT_USAGE, outcome
from gatekeeper.provenance import TrustPolicyError, load_trust_policy, parse_trust_policy
from tests.fixtures.signing import InProcessPgpKey, InProcessSshKey


def document(pgp: InProcessPgpKey, ssh: InProcessSshKey, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "signers": [
            {"name": "alice", "emails": ["alice@example.com"], "openpgp": pgp.public},
            {"name": "bob", "ssh": [ssh.public]},
        ],
        "rules": [
            {"paths": ["apps/payments/**"], "signers": ["alice", "bob"], "minSigners": 2},
            {"paths": ["apps/*/secrets/**"], "signers": ["alice"]},
            {"paths": ["**"], "signers": ["*"]},
        ],
    }
    doc.update(changes)
    return doc


@pytest.fixture
def ssh(ssh_key_factory: Callable[[], InProcessSshKey]) -> InProcessSshKey:
    return ssh_key_factory()


def test_a_valid_policy_loads_with_defaults_for_mode_and_min_signers(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey, tmp_path: Path
) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(document(pgp_key, ssh)))
    policy = load_trust_policy(path)
    assert policy.mode == "strict"
    assert policy.trust_from is None
    assert policy.signers == ("alice", "bob")
    assert [r.min_signers for r in policy.rules] == [2, 1, 1]


def test_the_most_specific_matching_rule_decides_and_ties_go_to_the_earlier_rule(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    policy = parse_trust_policy(document(pgp_key, ssh))
    chosen = {
        path: rule.index if (rule := policy.rule_for(path)) else None
        for path in [
            "apps/payments/db.yaml",
            "apps/payments/secrets/key.yaml",
            "apps/web/secrets/key.yaml",
            "apps/web/site.yaml",
            "README.md",
        ]
    }
    assert chosen == {
        "apps/payments/db.yaml": 0,
        "apps/payments/secrets/key.yaml": 1,
        "apps/web/secrets/key.yaml": 1,
        "apps/web/site.yaml": 2,
        "README.md": 2,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "loose"}, "mode: Input should be 'strict' or 'head'"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"trust_from": "4f1c2a"}, "trust_from: unknown key"),
        ({"kind": "Policy"}, "kind: Input should be 'TrustPolicy'"),
        ({"rules": []}, "rules: List should have at least 1 item"),
        ({"trustFrom": "not-a-sha"}, "trustFrom: String should match pattern"),
    ],
)
def test_invalid_top_level_values_are_refused_naming_the_key(
    pgp_key: InProcessPgpKey,
    ssh: InProcessSshKey,
    change: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(TrustPolicyError) as caught:
        parse_trust_policy(document(pgp_key, ssh, **change), origin="trust.yaml")
    assert f"trust.yaml: {message}" in str(caught.value)
    assert outcome(caught.value).code == EXIT_USAGE


def test_an_unknown_key_inside_a_signer_is_refused_with_its_path(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][1]["team"] = "payments"
    with pytest.raises(TrustPolicyError, match=r"signers\[1\]\.team: unknown key"):
        parse_trust_policy(doc)


def test_a_broken_openpgp_key_block_is_refused_with_its_path(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][0]["openpgp"] = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n"
    with pytest.raises(TrustPolicyError, match=r"signers\[0\]\.openpgp: not a valid OpenPGP"):
        parse_trust_policy(doc)


def test_a_secret_openpgp_key_is_refused(pgp_key: InProcessPgpKey, ssh: InProcessSshKey) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][0]["openpgp"] = str(pgp_key.tsk)
    with pytest.raises(TrustPolicyError, match="secret key material"):
        parse_trust_policy(doc)


def test_a_broken_ssh_key_is_refused_with_its_path(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][1]["ssh"] = ["ssh-ed25519 not-base64!"]
    with pytest.raises(TrustPolicyError) as caught:
        parse_trust_policy(doc, origin="trust.yaml")
    # One precise line, not one per way the entry could have been written.
    assert str(caught.value) == (
        "trust.yaml: signers[1].ssh[0].key: the key data of 'ssh-ed25519' is not valid base64"
        " key data"
    )


def test_an_ssh_key_window_must_be_ordered(pgp_key: InProcessPgpKey, ssh: InProcessSshKey) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][1]["ssh"] = [
        {"key": ssh.public, "validAfter": "2026-02-01", "validBefore": "2026-01-01"}
    ]
    with pytest.raises(TrustPolicyError, match="validAfter must be earlier than validBefore"):
        parse_trust_policy(doc)


def test_a_signer_without_any_key_is_refused(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"].append({"name": "carol", "emails": ["carol@example.com"]})
    with pytest.raises(TrustPolicyError, match=r"signers\[2\]: .*carol.* has no key"):
        parse_trust_policy(doc)


def test_rules_may_only_name_listed_signers(pgp_key: InProcessPgpKey, ssh: InProcessSshKey) -> None:
    doc = document(pgp_key, ssh)
    doc["rules"][1]["signers"] = ["alice", "zed"]
    with pytest.raises(TrustPolicyError, match=r"rules\[1\] names unknown signers: zed"):
        parse_trust_policy(doc)


def test_a_min_signers_no_listed_signer_set_can_reach_is_refused(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["rules"][1]["minSigners"] = 2
    with pytest.raises(TrustPolicyError, match=r"rules\[1\] needs minSigners=2"):
        parse_trust_policy(doc)


def test_duplicate_signer_names_are_refused(pgp_key: InProcessPgpKey, ssh: InProcessSshKey) -> None:
    doc = document(pgp_key, ssh)
    doc["signers"][1]["name"] = "alice"
    with pytest.raises(TrustPolicyError, match="signer names must be unique: alice"):
        parse_trust_policy(doc)


def test_a_malformed_path_pattern_is_refused_with_its_path(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey
) -> None:
    doc = document(pgp_key, ssh)
    doc["rules"][0]["paths"] = ["apps/**payments"]
    with pytest.raises(TrustPolicyError, match=r"rules\[0\]\.paths\[0\]: .*whole path segment"):
        parse_trust_policy(doc)


def test_a_file_that_is_not_yaml_or_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("signers: [\n")
    with pytest.raises(TrustPolicyError, match="not valid YAML"):
        load_trust_policy(broken)
    deep = tmp_path / "deep.yaml"
    deep.write_text("signers: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(TrustPolicyError, match="not valid YAML: the document nests too deeply"):
        load_trust_policy(deep)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")
    with pytest.raises(TrustPolicyError, match="a TrustPolicy mapping is expected"):
        load_trust_policy(listed)
    with pytest.raises(TrustPolicyError, match="cannot read"):
        load_trust_policy(tmp_path / "missing.yaml")


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("apiVersion: gatekeeper.dev/v1alpha1\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(TrustPolicyError, match=r"latin1\.yaml: the trust policy is not UTF-8"):
        load_trust_policy(latin)


@pytest.mark.parametrize("wanted", [3, 10**40])
def test_a_min_signers_beyond_every_listed_signer_is_refused_for_any_signer_rules(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey, tmp_path: Path, wanted: int
) -> None:
    doc = document(pgp_key, ssh)
    doc["rules"][2]["minSigners"] = wanted
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(TrustPolicyError, match=rf"rules\[2\] needs minSigners={wanted} but allows"):
        load_trust_policy(path)
    doc["rules"][2]["minSigners"] = 2
    path.write_text(yaml.safe_dump(doc))
    assert load_trust_policy(path).rules[2].min_signers == 2


@pytest.mark.parametrize("value", ["true", "1.5", "'2'"])
def test_a_min_signers_that_is_not_a_whole_number_is_refused(
    pgp_key: InProcessPgpKey, ssh: InProcessSshKey, tmp_path: Path, value: str
) -> None:
    doc = document(pgp_key, ssh)
    doc["rules"][2]["minSigners"] = 1
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(doc).replace("minSigners: 1", f"minSigners: {value}"))
    with pytest.raises(TrustPolicyError, match=r"rules\[2\]\.minSigners"):
        load_trust_policy(path)
