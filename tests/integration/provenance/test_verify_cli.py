"""`gatekeeper verify` end to end: table and JSON output, and exit codes 0, 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import main
from tests.fixtures.gitrepo import Keys, SignedRepo, standard_signers, trust_policy_yaml

pytestmark = pytest.mark.integration


@pytest.fixture
def trust_file(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys),
            rules=[
                {"paths": ["apps/payments/**"], "signers": ["alice"]},
                {"paths": ["**"], "signers": ["*"]},
            ],
        )
    )
    return path


def test_verify_exits_zero_and_prints_one_json_object_per_trusted_commit(
    signed_repo: SignedRepo, keys: Keys, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("alice"))
    second = signed_repo.commit({"apps/web/site.yaml": "1\n"}, signer=keys.signer("bob"))
    code = main(
        ["verify", "--repo", str(signed_repo.path), "--trust", str(trust_file), "--format", "json"]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["sha"] for r in rows] == [first, second]
    assert rows[0] | {"detail": None} == {
        "sha": first,
        "kind": "commit",
        "trusted": True,
        "reason": "trusted",
        "detail": None,
        "format": "openpgp",
        "signer": "alice",
        "key_id": keys.alice.fingerprint,
        "paths": ["apps/payments/db.yaml"],
        "rule": None,
        "path": None,
    }
    assert rows[1]["format"] == "ssh" and rows[1]["signer"] == "bob"


def test_verify_exits_one_and_names_the_untrusted_commit(
    signed_repo: SignedRepo, keys: Keys, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synced = signed_repo.commit({"README": "1\n"}, signer=keys.signer("alice"))
    bad = signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("bob"))
    code = main(
        ["verify", "--repo", str(signed_repo.path), "--trust", str(trust_file), "--since", synced]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert bad[:12] in captured.out
    err = " ".join(captured.err.split())
    assert f"{bad[:12]} signer_not_allowed" in err
    assert "bob may not change apps/payments/db.yaml under rules[0]" in err


def test_verify_exits_two_on_a_trust_file_with_an_unknown_key_naming_it(
    signed_repo: SignedRepo, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        trust_policy_yaml(
            signers={"alice": {"openpgp": keys.alice.public, "team": "x"}},
            rules=[{"paths": ["**"], "signers": ["*"]}],
        )
    )
    code = main(["verify", "--repo", str(signed_repo.path), "--trust", str(bad)])
    assert code == 2
    assert "signers[0].team: unknown key" in capsys.readouterr().err


def test_verify_exits_two_when_the_revision_does_not_exist(
    signed_repo: SignedRepo, keys: Keys, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    code = main(
        ["verify", "--repo", str(signed_repo.path), "--trust", str(trust_file), "--rev", "nope"]
    )
    assert code == 2
    assert "nope" in capsys.readouterr().err


def test_verify_prints_a_table_by_default(
    signed_repo: SignedRepo, keys: Keys, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = signed_repo.commit({"a": "1\n"}, signer=keys.signer("bob"))
    assert main(["verify", "--repo", str(signed_repo.path), "--trust", str(trust_file)]) == 0
    out = capsys.readouterr().out
    assert sha[:12] in out and "trusted" in out and "bob" in out


def test_the_table_shows_committed_names_as_committed_even_with_brackets(
    signed_repo: SignedRepo, keys: Keys, trust_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A folder named `[` and a `[hidden]` part: as Rich markup the first ends the command in
    # a MarkupError, the second vanishes from the table a reviewer reads.
    signed_repo.commit({"apps/web/[/x].yaml": "1\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/[hidden]evil:x:.yaml": "1\n"}, signer=keys.signer("bob"))
    code = main(["verify", "--repo", str(signed_repo.path), "--trust", str(trust_file)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    # The table folds long cells over several lines: join each column's pieces again.
    columns: dict[int, str] = {}
    for line in captured.out.splitlines():
        if line.startswith("│"):
            for index, part in enumerate(line.split("│")[1:-1]):
                columns[index] = columns.get(index, "") + part.strip()
    paths = columns[5]
    assert "apps/web/[/x].yaml" in paths
    assert "apps/payments/[hidden]evil:x:.yaml" in paths


def test_a_rule_that_names_its_signers_twice_is_refused_not_widened(
    signed_repo: SignedRepo, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("bob"))
    text = trust_policy_yaml(
        signers=standard_signers(keys),
        rules=[
            {"paths": ["apps/payments/**"], "signers": ["alice"]},
            {"paths": ["**"], "signers": ["*"]},
        ],
    )
    # A second `signers:` in the payments rule: the last one would win and let bob in.
    first = "  signers:\n  - alice\n"
    assert text.count(first) == 1
    trust = tmp_path / "dup.yaml"
    trust.write_text(text.replace(first, first + "  signers:\n  - '*'\n"))
    code = main(["verify", "--repo", str(signed_repo.path), "--trust", str(trust)])
    err = capsys.readouterr().err
    assert code == 2
    line = text[: text.index(first)].count("\n") + 1
    assert f"dup.yaml: not valid YAML: line {line + 2}: duplicate key 'signers'" in err
    assert f"(first at line {line})" in err


@pytest.mark.parametrize("listed", ["alice", "bob"])
def test_a_key_listed_under_two_signers_is_refused_naming_both(
    signed_repo: SignedRepo,
    keys: Keys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    listed: str,
) -> None:
    # OpenPGP credited the last listing and SSH the first: alice's own payments commit was
    # judged as the other signer's and refused.
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer(listed))
    signers = standard_signers(keys)
    signers[f"{listed}2"] = dict(signers[listed])
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        trust_policy_yaml(
            signers=signers,
            rules=[
                {"paths": ["apps/payments/**"], "signers": [listed]},
                {"paths": ["**"], "signers": ["*"]},
            ],
        )
    )
    code = main(["verify", "--repo", str(signed_repo.path), "--trust", str(trust)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"listed under both signer '{listed}' and signer '{listed}2'" in err


def test_a_trust_from_off_the_checked_history_is_a_policy_error(
    signed_repo: SignedRepo, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    signed_repo.branch("side")
    elsewhere = signed_repo.commit({"b": "1\n"}, signer=keys.signer("alice"))
    signed_repo.branch("main", base)
    signed_repo.commit({"c": "1\n"}, signer=keys.signer("alice"))
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys),
            rules=[{"paths": ["**"], "signers": ["*"]}],
            trust_from=elsewhere,
        )
    )
    code = main(["verify", "--repo", str(signed_repo.path), "--trust", str(trust)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("configuration error:")
    assert f"trustFrom {elsewhere} is not an ancestor of HEAD" in err
