"""The control plane's processes: spawning, recognising and stopping them; free ports."""

from __future__ import annotations

import os
import signal
import socket
import time
from contextlib import suppress
from pathlib import Path

from gatekeeper.devcluster.layout import Layout

STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_ours(pid: int, layout: Layout) -> bool:
    """The pid is alive and its command line names this state directory (no pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if status.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    root = str(layout.root.absolute()).encode() + b"/"
    return any(root in arg for arg in cmdline)


def running_pid(layout: Layout, component: str) -> int | None:
    pid = read_pid(layout.pid_file(component))
    return pid if pid is not None and is_ours(pid, layout) else None


class Child:
    """A process this one spawned: its pid, and whether it has exited yet."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # Already reaped (by `stop_pid`): it has exited, with a status no longer known.
                self.returncode = -1
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def spawn(layout: Layout, component: str, command: list[str]) -> Child:
    """Start a component in its own session, output to its log, pid to its pid file.

    posix_spawn rather than subprocess.Popen: the plane outlives the Popen object that
    would otherwise warn, when collected, that its process still runs.
    """
    layout.logs.mkdir(parents=True, exist_ok=True)
    log = str(layout.log_file(component))
    # A SIGTERM or ^C before the pid file is written, or before the exec shows the component's
    # command line (which is how `stop_pid` knows the process is ours), would leave a process
    # nobody stops: both signals wait until then (the child starts with them unblocked).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = _spawn(command, log)
        layout.pid_file(component).write_text(f"{pid}\n")
        child = Child(pid)
        deadline = time.monotonic() + 5.0
        while not is_ours(pid, layout) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return child


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _spawn(command: list[str], log: str) -> int:
    return os.posix_spawn(
        command[0],
        command,
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        # Its own session: the plane outlives the command that started it and ignores ^C.
        setsid=True,
        # The parent's blocked signals are not the child's.
        setsigmask=(),
    )


def reap(pid: int) -> None:
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _exited(pid: int) -> bool:
    """Gone, or a zombie. (While exiting, a process's command line is already empty.)"""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] in {"Z", "X"}


def stop_pid(pid: int, layout: Layout) -> None:
    """SIGTERM, then SIGKILL after STOP_SECONDS; reaped when it is this process's child."""
    if not is_ours(pid, layout):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while not _exited(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _exited(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while not _exited(pid):
            time.sleep(0.05)
    # The leader of a multi-threaded process turns zombie before its last threads are gone;
    # a blocking wait (only possible for our own child) returns once all of it has exited.
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def log_tail(layout: Layout, component: str, lines: int = 20) -> str:
    try:
        text = layout.log_file(component).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
