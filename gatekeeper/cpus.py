"""How many CPUs this process can use: its affinity, within its container's CPU limit."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs this process's cgroup may use (a container's CPU limit), or None if unbounded.

    cgroup v2's `cpu.max` (`QUOTA PERIOD`, or `max PERIOD`), else cgroup v1's
    `cpu.cfs_quota_us` over `cpu.cfs_period_us` (-1: no quota).
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota_us = int((root / folder / "cpu.cfs_quota_us").read_text())
            period_us = int((root / folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def cores() -> int:
    """The CPUs this process can use at once: its affinity, within its cgroup's CPU limit."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        count = min(count, max(1, round(quota)))
    return count
