"""How many CPUs the signature worker and the policy processes may count on: the cgroup's
CPU limit, v2 and v1."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper import cpus


def v2(root: Path, text: str) -> Path:
    (root / "cpu.max").write_text(text)
    return root


def v1(root: Path, quota: int, period: int = 100_000, folder: str = "cpu,cpuacct") -> Path:
    (root / folder).mkdir()
    (root / folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / folder / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [("max 100000\n", None), ("200000 100000\n", 2.0), ("50000 100000\n", 0.5)],
)
def test_cgroup_v2_cpu_max(tmp_path: Path, text: str, expected: float | None) -> None:
    assert cpus.cpu_quota(v2(tmp_path, text)) == expected


@pytest.mark.parametrize(("quota", "expected"), [(-1, None), (150_000, 1.5), (100_000, 1.0)])
def test_cgroup_v1_cfs_quota(tmp_path: Path, quota: int, expected: float | None) -> None:
    assert cpus.cpu_quota(v1(tmp_path, quota)) == expected


def test_no_cgroup_files_mean_no_limit(tmp_path: Path) -> None:
    assert cpus.cpu_quota(tmp_path) is None


def test_an_unreadable_cpu_max_falls_back_to_v1(tmp_path: Path) -> None:
    v2(tmp_path, "garbage")
    assert cpus.cpu_quota(v1(tmp_path, 300_000, folder="cpu")) == 3.0


@pytest.mark.parametrize(("quota", "usable"), [(None, 4), (1.0, 1), (1.4, 1), (1.5, 2), (8.0, 4)])
def test_a_cpu_limit_below_one_and_a_half_leaves_no_room_for_a_worker(
    monkeypatch: pytest.MonkeyPatch, quota: float | None, usable: int
) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    monkeypatch.setattr(cpus, "cpu_quota", lambda: quota)
    assert cpus.cores() == usable
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {0})
    assert cpus.cores() == 1
