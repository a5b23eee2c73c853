"""The Git witness with the real `git`: a commit per checkpoint, writers taking turns, and a
clone of the repository that catches a rewritten database."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit import chain
from gatekeeper.audit.errors import WitnessConflict, WitnessError, WitnessUnavailable
from gatekeeper.audit.signing import Signer, checkpoint_message
from gatekeeper.audit.store import AuditStore, Checkpoint
from gatekeeper.audit.witness import entry_name
from gatekeeper.audit.witness_git import GitWitness
from gatekeeper.cli import main
from tests.integration.audit.witness_support import (
    append,
    delete_checkpoints,
    rewrite,
    write_config,
)

pytestmark = pytest.mark.integration

KEY = Signer(Ed25519PrivateKey.generate())


def signed(checkpoint_id: int, seq: int, head: str | None = None) -> Checkpoint:
    moment = datetime.now(UTC)
    head = head or f"{seq:064x}"
    message = checkpoint_message(
        seq=seq, head_hash=head, time=chain.format_time(moment), key=KEY.key_id
    )
    return Checkpoint(checkpoint_id, seq, head, moment, KEY.key_id, KEY.sign(message))


def git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *args], capture_output=True, text=True, check=True
    ).stdout


def test_each_checkpoint_is_one_commit_in_a_repository_made_for_it(tmp_path: Path) -> None:
    repository = tmp_path / "witness"
    witness = GitWitness(repository)
    made = [signed(1, 6), signed(2, 10), signed(3, 14)]
    for checkpoint in made:
        witness.write(checkpoint)
    witness.write(made[1])  # a retry: committed already, nothing to add

    subjects = git(repository, "log", "--format=%s").splitlines()
    assert subjects == [
        "Checkpoint 3: record 14",
        "Checkpoint 2: record 10",
        "Checkpoint 1: record 6",
    ]
    assert git(repository, "ls-tree", "--name-only", "HEAD").split() == [
        entry_name(c) for c in made
    ]
    assert git(repository, "status", "--porcelain") == ""
    assert witness.read().checkpoints == tuple(made)


def test_an_existing_repository_keeps_its_history_and_its_committer(tmp_path: Path) -> None:
    repository = tmp_path / "witness"
    repository.mkdir()
    git(repository, "init", "--quiet")
    git(repository, "config", "user.name", "Audit Witness")
    git(repository, "config", "user.email", "witness@example.org")
    (repository / "README.md").write_text("Checkpoints of the audit log.\n")
    git(repository, "add", "README.md")
    git(repository, "commit", "--quiet", "-m", "Start")

    GitWitness(repository).write(signed(1, 3))

    assert git(repository, "log", "--format=%an <%ae>|%s").splitlines() == [
        "Audit Witness <witness@example.org>|Checkpoint 1: record 3",
        "Audit Witness <witness@example.org>|Start",
    ]


def test_another_checkpoint_under_a_taken_name_is_refused_and_nothing_is_committed(
    tmp_path: Path,
) -> None:
    witness = GitWitness(tmp_path / "witness")
    witness.write(signed(2, 10))
    with pytest.raises(WitnessConflict):
        witness.write(signed(2, 10, head="f" * 64))
    assert len(git(tmp_path / "witness", "log", "--format=%h").split()) == 1
    assert git(tmp_path / "witness", "status", "--porcelain") == ""


def test_writers_in_parallel_each_get_their_commit(tmp_path: Path) -> None:
    repository = tmp_path / "witness"
    GitWitness(repository).write(signed(1, 1))
    errors: list[BaseException] = []

    def write(first: int) -> None:
        # Each writer is its own witness, as each process of a deployment would be.
        witness = GitWitness(repository)
        try:
            for checkpoint_id in range(first, first + 5):
                witness.write(signed(checkpoint_id, checkpoint_id * 10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(2 + 5 * i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(git(repository, "log", "--format=%h").split()) == 21
    assert len(GitWitness(repository).read().checkpoints) == 21
    assert git(repository, "status", "--porcelain") == ""


def test_a_folder_that_is_not_the_top_of_a_repository_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a repository")
    with pytest.raises(WitnessError, match="is not a Git repository"):
        GitWitness(plain).write(signed(1, 1))

    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    git(outer, "init", "--quiet")
    (outer / "inner" / "x").write_text("")
    with pytest.raises(WitnessError, match="inside the repository"):
        GitWitness(outer / "inner").write(signed(1, 1))


def test_a_missing_git_command_makes_the_witness_unavailable(tmp_path: Path) -> None:
    with pytest.raises(WitnessUnavailable, match="git command"):
        GitWitness(tmp_path / "w", git=str(tmp_path / "no-git")).write(signed(1, 1))


def test_a_clone_of_the_witness_catches_a_database_rewritten_after_its_checkpoints_were_deleted(
    store: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    config = write_config(tmp_path, store, signer, audit={"witness": {"git": "witness"}})
    append(store, 6)
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    append(store, 4)
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(tmp_path / "witness"), str(clone)],
        check=True,
        capture_output=True,
    )
    verify = ["--config", str(config), "audit", "verify", "--witness", str(clone)]
    assert main(verify) == 0

    delete_checkpoints(store, from_id=2)
    rewrite(store, at=7)

    assert main(["--config", str(config), "audit", "verify"]) == 0
    capsys.readouterr()
    assert main(verify) == 1
    out = capsys.readouterr().out
    assert "witness_missing at 10" in out
    assert "witness_chain_mismatch at 10" in out
