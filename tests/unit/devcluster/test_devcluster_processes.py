"""Processes of a plane are recognised by pid file and state directory, and only they stop."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.devcluster import processes
from gatekeeper.devcluster.layout import Layout


def _sleeper(layout: Layout, component: str) -> processes.Child:
    # The state directory appears on the command line, as it does for etcd and kube-apiserver.
    return processes.spawn(
        layout, component, ["/bin/sh", "-c", "sleep 30", f"{layout.root}/marker"]
    )


def test_stopping_one_plane_leaves_a_plane_with_a_similar_path_running(tmp_path: Path) -> None:
    first = Layout(tmp_path / "plane")
    second = Layout(tmp_path / "plane2")
    a = _sleeper(first, "etcd")
    b = _sleeper(second, "etcd")
    try:
        assert processes.running_pid(first, "etcd") == a.pid
        assert processes.running_pid(second, "etcd") == b.pid
        assert not processes.is_ours(b.pid, first)

        processes.stop_pid(b.pid, first)
        assert processes.is_ours(b.pid, second)

        processes.stop_pid(a.pid, first)
        assert a.poll() is not None
        assert not Path(f"/proc/{a.pid}").exists()
        assert processes.running_pid(first, "etcd") is None
        assert processes.is_ours(b.pid, second)
    finally:
        processes.stop_pid(a.pid, first)
        processes.stop_pid(b.pid, second)
    assert b.poll() is not None


def test_a_pid_file_naming_a_foreign_process_is_not_ours(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "plane")
    layout.root.mkdir()
    layout.pid_file("kube-apiserver").write_text("1\n")

    assert processes.running_pid(layout, "kube-apiserver") is None


def test_spawned_output_goes_to_the_components_log(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "plane")
    child = processes.spawn(
        layout, "etcd", ["/bin/sh", "-c", "echo started; echo oops >&2", str(layout.root / "x")]
    )
    while child.poll() is None:
        pass

    assert child.returncode == 0
    assert layout.log_file("etcd").read_text().splitlines() == ["started", "oops"]
    assert processes.log_tail(layout, "etcd", lines=1) == "oops"


def test_a_free_port_is_not_listening() -> None:
    port = processes.free_port()

    assert not processes.port_open(port)
