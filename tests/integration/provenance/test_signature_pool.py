"""The signature worker process: the same verdicts as checking alone, whatever it does."""

from __future__ import annotations

import io
import pickle
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from gatekeeper.provenance import (
    GitRepository,
    Reason,
    TrustPolicy,
    sigpool,
    sigworker,
    verify_range,
)
from gatekeeper.provenance.objects import SignedObject
from gatekeeper.provenance.sigpool import SignaturePool
from tests.fixtures.cluster import wait_for
from tests.fixtures.gitrepo import EXPIRED_KEY_CREATED, Keys, PolicyWriter, SignedRepo

pytestmark = pytest.mark.integration

# Every kind of verdict the worker can reach, each more than once, in a mixed order.
CAST = ["alice", "bob", "eve", "carol", "mallory", "dave", None, "expired", "revoked", "subkey"]


@pytest.fixture
def mixed(signed_repo: SignedRepo, keys: Keys) -> list[SignedObject]:
    for round_ in range(3):
        for number, name in enumerate(CAST):
            signer = None if name is None else keys.signer(name)
            # The expired key signs while it was valid; its commit is dated after.
            signed_at = EXPIRED_KEY_CREATED + timedelta(hours=1) if name == "expired" else None
            signed_repo.commit(
                {f"apps/{number}.yaml": f"round: {round_}\n"}, signer=signer, signed_at=signed_at
            )
    signed_repo.tamper_head()
    return list(GitRepository(signed_repo.path).range_commits("HEAD"))


@pytest.fixture(autouse=True)
def _workers_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with workers usable, whatever an earlier one taught this process."""
    monkeypatch.setattr(sigpool, "_unusable", [])


@pytest.fixture
def ready_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers are waited for as they start, so that short test ranges reach them."""
    start = SignaturePool._start_worker

    def start_and_wait(pool: SignaturePool) -> object:
        worker = start(pool)
        assert worker is not None
        assert worker.ready.wait(30), "the worker did not start"
        return worker

    monkeypatch.setattr(SignaturePool, "_start_worker", start_and_wait)


def alone(policy: TrustPolicy, objects: list[SignedObject]) -> list[object]:
    return [policy.keyring.verify(obj) for obj in objects]


def test_the_worker_gives_the_verdicts_this_process_gives(
    mixed: list[SignedObject], write_policy: PolicyWriter, ready_at_once: None
) -> None:
    policy = write_policy()
    with SignaturePool(policy.keyring, start_after=0, batch=3, enabled=True) as pool:
        for obj in mixed:
            pool.submit(obj)
        verdicts = pool.results()
    assert verdicts == alone(policy, mixed)
    assert pool.checked_by_worker > 0
    reasons = {v.reason for v in verdicts}
    assert {Reason.TRUSTED, Reason.UNKNOWN_KEY, Reason.UNSIGNED, Reason.BAD_SIGNATURE} <= reasons
    assert {Reason.EXPIRED_KEY, Reason.REVOKED_KEY} <= reasons


def test_a_worker_killed_mid_range_costs_no_verdict(
    mixed: list[SignedObject], write_policy: PolicyWriter, ready_at_once: None
) -> None:
    policy = write_policy()
    with SignaturePool(policy.keyring, start_after=0, batch=2, enabled=True) as pool:
        for number, obj in enumerate(mixed):
            pool.submit(obj)
            if number == len(mixed) // 2:
                worker = pool._worker
                assert worker is not None
                worker.process.kill()
        verdicts = pool.results()
    assert verdicts == alone(policy, mixed)


def test_a_worker_that_cannot_start_leaves_every_check_here(
    mixed: list[SignedObject], write_policy: PolicyWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = write_policy()
    monkeypatch.setattr(sigpool.sys, "executable", "/nonexistent/python")
    with SignaturePool(policy.keyring, start_after=0, enabled=True) as pool:
        for obj in mixed:
            pool.submit(obj)
        verdicts = pool.results()
    assert verdicts == alone(policy, mixed)
    assert pool.checked_by_worker == 0


def test_a_worker_that_dies_at_start_is_reported_and_not_started_again(
    mixed: list[SignedObject],
    write_policy: PolicyWriter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'No module named gatekeeper' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sigpool.sys, "executable", str(broken))
    policy = write_policy()
    with SignaturePool(policy.keyring, start_after=0, enabled=True) as pool:
        for obj in mixed:
            pool.submit(obj)
        assert pool.results() == alone(policy, mixed)
    # The worker's threads reap it and record why it is unusable.
    wait_for(lambda: sigpool._unusable, seconds=10, what="the broken worker to be reaped")
    assert "No module named gatekeeper" in sigpool._unusable[0]
    assert "No module named gatekeeper" in caplog.text
    with SignaturePool(policy.keyring, start_after=0, enabled=True) as again:
        again.submit(mixed[0])
        assert again.results() == alone(policy, mixed[:1])
        assert again._worker is None


def test_a_short_range_starts_no_worker(
    mixed: list[SignedObject], write_policy: PolicyWriter
) -> None:
    with SignaturePool(write_policy().keyring, start_after=len(mixed), enabled=True) as pool:
        for obj in mixed:
            pool.submit(obj)
        pool.results()
        assert pool._worker is None


def test_verify_range_over_a_long_range_uses_the_worker_and_judges_the_same(
    mixed: list[SignedObject],
    signed_repo: SignedRepo,
    write_policy: PolicyWriter,
    monkeypatch: pytest.MonkeyPatch,
    ready_at_once: None,
) -> None:
    policy = write_policy()
    repo = GitRepository(signed_repo.path)
    monkeypatch.setattr(sigpool, "START_AFTER", 10**9)
    by_one = verify_range(repo, policy, since=None, target="HEAD")
    used: list[int] = []
    close = SignaturePool.close

    def counted(pool: SignaturePool) -> None:
        used.append(pool.checked_by_worker)
        close(pool)

    monkeypatch.setattr(sigpool, "START_AFTER", 0)
    monkeypatch.setattr(sigpool, "BATCH", 2)
    monkeypatch.setattr(SignaturePool, "close", counted)
    by_two = verify_range(repo, policy, since=None, target="HEAD")
    assert by_two == by_one
    assert not by_one.trusted
    assert used and used[0] > 0


def test_the_worker_answers_each_batch_and_stops_at_the_end_of_its_input() -> None:
    requests = io.BytesIO()
    sigworker.write_frame(requests, (7, [("a",), ("b",)]))
    sigworker.write_frame(requests, (8, [("c",)]))
    requests.seek(0)
    answers = io.BytesIO()
    sigworker.serve(requests, answers, lambda value: value.upper())
    answers.seek(0)
    assert sigworker.read_frame(answers) == "ready"
    assert sigworker.read_frame(answers) == (7, ["A", "B"])
    assert sigworker.read_frame(answers) == (8, ["C"])
    with pytest.raises(EOFError):
        sigworker.read_frame(answers)


def test_a_frame_cut_short_is_the_end_of_the_stream() -> None:
    data = pickle.dumps((1, []))
    cut = io.BytesIO(sigworker.LENGTH.pack(len(data)) + data[:-1])
    with pytest.raises(EOFError):
        sigworker.read_frame(cut)


def test_the_worker_leaves_ctrl_c_to_the_process_that_started_it(
    write_policy: PolicyWriter,
) -> None:
    worker = subprocess.Popen(
        sigpool.worker_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        sigworker.write_frame(worker.stdin, write_policy().keyring.portable())
        assert sigworker.read_frame(worker.stdout) == "ready"
        worker.send_signal(signal.SIGINT)
        sigworker.write_frame(worker.stdin, (1, []))
        assert sigworker.read_frame(worker.stdout) == (1, [])
    finally:
        worker.stdin.close()
        assert worker.wait(timeout=30) == 0
        worker.stdout.close()


def test_a_huge_commit_is_checked_here_and_big_batches_go_early(
    signed_repo: SignedRepo,
    keys: Keys,
    write_policy: PolicyWriter,
    monkeypatch: pytest.MonkeyPatch,
    ready_at_once: None,
) -> None:
    big = "x" * (sigpool.MAX_SENT_BYTES + 1)
    for number in range(6):
        message = big if number == 3 else f"change {number}"
        signed_repo.commit(
            {f"apps/{number}.yaml": "a: 1\n"}, signer=keys.signer("bob"), message=message
        )
    objects = list(GitRepository(signed_repo.path).range_commits("HEAD"))
    sizes = [len(obj.payload) + len(obj.signature or b"") for obj in objects]
    assert max(sizes) > sigpool.MAX_SENT_BYTES
    # Batches of up to 100 commits, but sent as soon as two small commits are in one.
    monkeypatch.setattr(sigpool, "MAX_BATCH_BYTES", 2 * min(sizes))
    policy = write_policy()
    with SignaturePool(
        policy.keyring, start_after=0, batch=100, in_flight=100, enabled=True
    ) as pool:
        for obj in objects:
            pool.submit(obj)
        verdicts = pool.results()
    assert verdicts == alone(policy, objects)
    assert all(v.reason is Reason.TRUSTED for v in verdicts)
    # Sent: the first two, then the third with the fifth; the huge fourth and the sixth,
    # alone at the end, are checked here.
    assert pool._next_batch == 2
    assert pool.checked_by_worker == 4


def test_a_range_that_ends_before_its_worker_is_ready_leaves_workers_usable(
    mixed: list[SignedObject], write_policy: PolicyWriter
) -> None:
    """A worker told to stop at once still says it is ready, then ends cleanly: that is not
    a broken worker, and later ranges still get one."""
    policy = write_policy()
    workers = []
    for _ in range(10):
        with SignaturePool(policy.keyring, start_after=0, enabled=True) as pool:
            pool.submit(mixed[0])
            assert pool.results() == alone(policy, mixed[:1])
            workers.append(pool._worker)
    for worker in workers:
        assert worker is not None
        assert worker.process.wait(timeout=30) == 0
        wait_for(worker.done.is_set, seconds=10, what="the worker's answers to end")
    assert sigpool._unusable == []
