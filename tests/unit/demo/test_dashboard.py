"""The demo's dashboard step, short of serving: its token, its port, and what it leaves behind."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gatekeeper import cli
from gatekeeper.dashboard.auth import TokensFile
from gatekeeper.dashboard.errors import Unauthenticated
from gatekeeper.demo import dashboard, manifests, workspace
from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings


def test_the_tokens_file_holds_only_the_digest_of_a_token_that_may_read_and_make_reports(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dashboard" / "tokens.yaml"

    token = dashboard.write_tokens(path)

    assert token not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens = TokensFile.load(path)
    who = tokens.authenticate(token)
    assert who.user == dashboard.USER
    tokens.authorize(who, "get")
    tokens.authorize(who, "create")


def test_each_run_gets_a_new_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first = dashboard.write_tokens(path)

    second = dashboard.write_tokens(path)

    assert first != second
    with pytest.raises(Unauthenticated):
        TokensFile.load(path).authenticate(first)


def test_the_wanted_port_is_used_when_free_and_another_one_when_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]

        other = dashboard.choose_port(busy)

        assert other not in (busy, 0)
    assert dashboard.choose_port(other) == other
    assert dashboard.choose_port(0) > 0


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def _pretend_dashboard(config_file: Path) -> subprocess.Popen[bytes]:
    # The command line is what `stop_leftovers` recognises; the program only sleeps.
    program = "import time; time.sleep(60)"
    process = subprocess.Popen(
        [sys.executable, "-c", program, "--config", str(config_file), "dashboard"]
    )
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"dashboard" not in cmdline.read_bytes().split(b"\0"):
        assert time.monotonic() < deadline, "the pretend dashboard never started"
        time.sleep(0.01)
    return process


def test_a_dashboard_left_serving_the_folder_is_stopped_and_nothing_else(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    config_file = tmp_path / workspace.CONFIG_FILE
    left = _pretend_dashboard(config_file)
    elsewhere = _pretend_dashboard(tmp_path / "other" / workspace.CONFIG_FILE)
    folder = tmp_path / dashboard.FOLDER
    folder.mkdir()
    for process in (left, elsewhere, sleeper):
        (folder / f"{process.pid}.pid").write_text(f"{process.pid}\n")
    (folder / "garbage.pid").write_text("not a pid\n")
    try:
        dashboard.stop_leftovers(tmp_path, config_file)

        assert left.wait(timeout=15) != 0
        assert dashboard.is_running(elsewhere.pid) and dashboard.is_running(sleeper.pid)
        assert not list(folder.glob("*.pid"))
    finally:
        for process in (left, elsewhere):
            process.kill()
            process.wait()


def test_a_new_run_stops_the_dashboard_an_earlier_run_left_serving(tmp_path: Path) -> None:
    folder = workspace.prepare(tmp_path / "demo")
    left = _pretend_dashboard(folder / workspace.CONFIG_FILE)
    (folder / dashboard.FOLDER).mkdir()
    (folder / dashboard.FOLDER / f"{left.pid}.pid").write_text(str(left.pid))
    try:
        workspace.prepare(folder)

        assert left.wait(timeout=15) != 0
    finally:
        left.kill()
        left.wait()


def test_a_process_that_exited_is_not_running() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()

    assert not dashboard.is_running(process.pid)


def test_only_a_folder_with_a_finished_run_can_be_served_again(tmp_path: Path) -> None:
    folder = workspace.prepare(tmp_path / "demo")
    with pytest.raises(ConfigError, match="holds no run of `gatekeeper demo`"):
        workspace.finished(folder)

    (folder / workspace.CONFIG_FILE).write_text("{}\n")
    (folder / workspace.DATABASE_FILE).write_bytes(b"")

    assert workspace.finished(folder) == folder


def test_the_configuration_signs_the_dashboard_in_from_the_tokens_file_of_the_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / workspace.CONFIG_FILE
    path.write_text(
        manifests.config_file(
            directory=tmp_path,
            source="shop",
            namespace_name="shop",
            reconciler_kubeconfig=tmp_path / "reconciler.yaml",
        )
    )

    settings = load_settings(path)

    assert settings.dashboard.auth == "tokens"
    assert settings.dashboard.host == "127.0.0.1"
    assert settings.dashboard.tokens_file == tmp_path / dashboard.TOKENS_FILE
    assert yaml.safe_load(path.read_text())["database"]["url"].endswith("gatekeeper.db")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dashboard-only", "--no-dashboard"], "it runs no scenario"),
        (["--dashboard-only", "--keep-cluster"], "it runs no scenario"),
        (["--dashboard-only"], "holds no run of `gatekeeper demo`"),
    ],
)
def test_serving_again_needs_a_finished_run_and_no_scenario_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = cli.main(["demo", "--dir", str(tmp_path / "none"), *argv])

    assert code == 2
    assert message in " ".join(capsys.readouterr().err.split())
