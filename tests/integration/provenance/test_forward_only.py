"""A range only runs forward: `--rev` must be `--since` or descend from it, in real repositories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.cli import EXIT_CHECK_FAILED, EXIT_USAGE, main
from gatekeeper.provenance import GitRepository, HistoryRewritten, RepositoryError, verify_range
from tests.fixtures.gitrepo import Keys, PolicyWriter, SignedRepo

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[3]


def _three(repo: SignedRepo, keys: Keys) -> tuple[str, str, str]:
    alice = keys.signer("alice")
    return (
        repo.commit({"apps/a.yaml": "a\n"}, signer=alice),
        repo.commit({"apps/b.yaml": "b\n"}, signer=alice),
        repo.commit({"apps/c.yaml": "c\n"}, signer=alice),
    )


def _collect_garbage(repo: SignedRepo) -> None:
    """Drop every trace of commits no branch reaches, as a server's gc after a force-push."""
    repo.git("update-ref", "-d", "ORIG_HEAD")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")


def test_a_range_forward_is_verified_and_a_range_from_a_commit_to_itself_is_empty(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    first, second, third = _three(signed_repo, keys)
    repo, policy = GitRepository(signed_repo.path), write_policy()

    forward = verify_range(repo, policy, since=first, target=third)
    same = verify_range(repo, policy, since=third, target=third)

    assert forward.trusted and [c.sha for c in forward.commits] == [second, third]
    assert same.trusted and same.commits == ()


def test_a_target_older_than_since_is_history_rewritten_naming_both_commits(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    first, _, third = _three(signed_repo, keys)
    repo = GitRepository(signed_repo.path)

    with pytest.raises(HistoryRewritten) as caught:
        verify_range(repo, write_policy(), since=third, target=first)

    assert (caught.value.since, caught.value.target, caught.value.missing) == (third, first, False)
    assert str(caught.value) == f"history rewritten: {first} does not descend from {third}"


@pytest.mark.parametrize("mode", ["strict", "head"])
def test_an_unrelated_signed_history_is_history_rewritten_in_either_mode(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, mode: str
) -> None:
    _, _, third = _three(signed_repo, keys)
    stranger = signed_repo.commit({"apps/z.yaml": "z\n"}, signer=keys.signer("alice"), parents=())

    with pytest.raises(HistoryRewritten, match=f"{stranger} does not descend from {third}"):
        verify_range(
            GitRepository(signed_repo.path), write_policy(mode=mode), since=third, target="main"
        )


def test_a_since_collected_after_a_force_push_is_missing_and_a_short_unknown_name_is_an_error(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    first, _, third = _three(signed_repo, keys)
    signed_repo.git("reset", "-q", "--hard", first)
    _collect_garbage(signed_repo)
    repo = GitRepository(signed_repo.path)
    assert not repo.has_object(third)

    with pytest.raises(HistoryRewritten, match="is no longer in the repository") as caught:
        verify_range(repo, write_policy(), since=third.upper(), target="main")
    with pytest.raises(RepositoryError, match="cannot resolve"):
        verify_range(repo, write_policy(), since=third[:12], target="main")

    assert (caught.value.since, caught.value.missing) == (third, True)


@pytest.fixture
def trust(tmp_path: Path, write_policy: PolicyWriter) -> Path:
    write_policy()
    return tmp_path / "trust.yaml"


def test_verify_rev_older_than_since_fails_with_exit_one_and_prints_no_table(
    signed_repo: SignedRepo, keys: Keys, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = _three(signed_repo, keys)
    args = ["verify", "--repo", str(signed_repo.path), "--trust", str(trust)]

    backward = main([*args, "--rev", first, "--since", third])
    captured = capsys.readouterr()
    as_json = main([*args, "--rev", first, "--since", third, "--format", "json"])
    json_out = capsys.readouterr().out
    forward = main([*args, "--rev", third, "--since", first, "--format", "json"])

    assert backward == as_json == EXIT_CHECK_FAILED
    assert captured.out == json_out == ""
    err = " ".join(captured.err.split())
    assert f"failed: history rewritten: {first} does not descend from {third}" in err
    assert forward == 0


def test_verify_since_a_collected_commit_fails_and_an_unknown_short_name_is_a_usage_error(
    signed_repo: SignedRepo, keys: Keys, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = _three(signed_repo, keys)
    signed_repo.git("reset", "-q", "--hard", first)
    _collect_garbage(signed_repo)
    args = ["verify", "--repo", str(signed_repo.path), "--trust", str(trust)]

    assert main([*args, "--since", third]) == EXIT_CHECK_FAILED
    assert "is no longer in the repository" in " ".join(capsys.readouterr().err.split())
    assert main([*args, "--since", third[:12]]) == EXIT_USAGE


def test_the_gatekeeper_command_exits_one_on_a_rev_that_does_not_descend_from_since(
    signed_repo: SignedRepo, keys: Keys, trust: Path
) -> None:
    first, _, third = _three(signed_repo, keys)
    command = [sys.executable, "-m", "gatekeeper.cli", "verify", "--repo", str(signed_repo.path)]
    command += ["--trust", str(trust), "--rev", first, "--since", third]
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "COLUMNS": "200"}

    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=PROJECT, check=False
    )

    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert f"history rewritten: {first} does not descend from {third}" in done.stderr
