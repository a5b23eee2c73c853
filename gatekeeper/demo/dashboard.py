"""The demo's dashboard: `gatekeeper dashboard` in a process of its own, on the demo's data.

It reads the demo's SQLite log and audit keys through the demo's configuration, and signs in
with a token made for the run (kept on disk only as its SHA-256). It serves until the demo
is stopped: Ctrl-C, or SIGTERM, which the `demo` command turns into the same interruption.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from gatekeeper.dashboard.auth import token_digest
from gatekeeper.demo.errors import DemoFailed
from gatekeeper.demo.narration import Narrator

FOLDER: Final = "dashboard"
# The configuration names it (relative to the demo's folder); the dashboard step writes it.
TOKENS_FILE: Final = "dashboard/tokens.yaml"
HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
USER: Final = "auditor"
GROUPS: Final = ("gatekeeper:auditors",)
VERBS: Final = ("get", "create")
_START_SECONDS: Final = 60.0
_STOP_SECONDS: Final = 10.0
_CHECK_SECONDS: Final = 15.0
# Requests go to 127.0.0.1 only; a proxy from the environment must not carry them elsewhere.
_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_tokens(path: Path) -> str:
    """A fresh random token, written to `path` as its SHA-256 only; returns the token."""
    token = secrets.token_urlsafe(32)
    entries = [
        {
            "user": USER,
            "groups": list(GROUPS),
            "verbs": list(VERBS),
            "tokenSha256": token_digest(token),
        }
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    return token


def choose_port(wanted: int) -> int:
    """`wanted` when it is free on 127.0.0.1, otherwise (and for 0) one the system picks."""
    for port in (wanted, 0) if wanted else (0,):
        with socket.socket() as probe:
            # As uvicorn binds: a port whose old connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return int(probe.getsockname()[1])
    raise DemoFailed("no free port on 127.0.0.1 for the dashboard")


@dataclass
class DemoDashboard:
    """A running `gatekeeper dashboard` child process and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    log_file: Path
    pid_file: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @classmethod
    def start(cls, *, directory: Path, config_file: Path, port: int) -> DemoDashboard:
        """Write a new token, start the process, and wait until it answers."""
        folder = directory / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        token = write_tokens(directory / TOKENS_FILE)
        chosen = choose_port(port)
        log_file = folder / "dashboard.log"
        command = [
            sys.executable,
            "-m",
            "gatekeeper.cli",
            "--config",
            str(config_file),
            "dashboard",
            "--host",
            HOST,
            "--port",
            str(chosen),
            "--log-level",
            "info",
        ]
        with log_file.open("wb") as log:
            # A session of its own: Ctrl-C reaches the demo only, which then stops it.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        board = cls(process, chosen, token, log_file, folder / f"{process.pid}.pid")
        try:
            # For a later run to find it if this one is killed outright (`stop_leftovers`).
            board.pid_file.write_text(f"{process.pid}\n")
            board._wait_until_ready()
        except BaseException:
            board.stop()
            raise
        return board

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise DemoFailed(
                    f"the dashboard exited with code {code} before answering:\n{self.log_tail()}"
                )
            if self._status("readyz") == 200:
                return
            time.sleep(0.2)
        raise DemoFailed(f"the dashboard did not answer in {_START_SECONDS:.0f} s")

    def _status(self, path: str) -> int | None:
        try:
            with _OPENER.open(self.url + path, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return None

    def get(self, path: str) -> tuple[int, Any]:
        """GET `path` of the API with the token: the status and the JSON answer."""
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1:PORT/
            self.url + "api/v1/" + path,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=10) as response:
                return int(response.status), json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DemoFailed(f"GET /api/v1/{path} failed: {exc}") from exc

    def integrity(self) -> dict[str, Any]:
        """`GET /api/v1/integrity` once the background check has finished its first pass."""
        deadline = time.monotonic() + _CHECK_SECONDS
        while True:
            status, body = self.get("integrity")
            if status != 200 or not isinstance(body, dict):
                raise DemoFailed(f"GET /api/v1/integrity with the token answered {status}: {body}")
            if body.get("status") != "checking" or time.monotonic() > deadline:
                return body
            time.sleep(0.2)

    def serve_until_stopped(self) -> None:
        """Block until interrupted (KeyboardInterrupt); a dashboard that exits first fails."""
        code = self.process.wait()
        raise DemoFailed(f"the dashboard stopped by itself (exit code {code}): see {self.log_file}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the process is reaped either way."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            except KeyboardInterrupt:
                # Interrupted again while waiting: do not leave it serving.
                self.process.kill()
                self.process.wait()
                raise
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def serve(
    narrator: Narrator, *, directory: Path, config_file: Path, port: int, hint: str = ""
) -> None:
    """Start the dashboard, say where and how to sign in, serve until stopped, then stop it."""
    board = DemoDashboard.start(directory=directory, config_file=config_file, port=port)
    try:
        if port and board.port != port:
            narrator.say(f"port {port} is taken; the dashboard listens on {board.port}")
        state = board.integrity()
        checkpoint = state.get("last_checkpoint") or {}
        narrator.ok(
            f"signed in with the token, GET /api/v1/integrity answers {state.get('status')}: "
            f"{state.get('records')} records, last checkpoint at seq {checkpoint.get('seq', '-')}, "
            f"{state.get('uncovered_records')} records after it"
        )
        narrator.ok(f"dashboard: {board.url}")
        narrator.ok(f"token: {board.token}")
        narrator.say(
            f"user {USER} may read and make reports (verbs {', '.join(VERBS)}); the tokens file "
            f"{directory / TOKENS_FILE} keeps only its SHA-256"
        )
        narrator.say(
            "sign in on the page with the token, or call the API: curl -H "
            f"'Authorization: Bearer {board.token}' {board.url}api/v1/integrity"
        )
        if hint:
            narrator.say(hint)
        narrator.say(f"dashboard log: {board.log_file}")
        narrator.say("[bold]serving until Ctrl-C (or SIGTERM)[/bold]")
        board.serve_until_stopped()
    except KeyboardInterrupt:
        # Ctrl-C, or SIGTERM turned into it: the way this step is meant to end, wherever it
        # lands once the dashboard is up.
        pass
    finally:
        board.stop()
    narrator.ok("dashboard stopped")


def stop_leftovers(directory: Path, config_file: Path) -> None:
    """Stop dashboards an earlier run in `directory` left serving (a demo killed outright).

    Only a process whose command line is a `dashboard` of `config_file` is signalled: a pid
    file can outlive its process, and the pid be reused by someone else's.
    """
    folder = directory / FOLDER
    if not folder.is_dir():
        return
    for pid_file in folder.glob("*.pid"):
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid > 0 and _is_demo_dashboard(pid, config_file):
            _terminate(pid)
        pid_file.unlink(missing_ok=True)


def _is_demo_dashboard(pid: int, config_file: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dashboard" in argv and os.fsencode(str(config_file)) in argv


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline:
            if not is_running(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def is_running(pid: int) -> bool:
    """True while process `pid` exists and has not exited (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold anything.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
