"""`gatekeeper dashboard` stopped by SIGTERM while it streams an export: the stream either
ends whole or is cut so that the client knows it is incomplete; the process exits 0."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from tests.fixtures.commands import Command, wait_until_gone
from tests.integration.dashboard.conftest import READER, write_tokens

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 30_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log long enough that streaming it takes a while to a slow reader."""
    path = tmp_path_factory.mktemp("stopping") / "audit.db"
    engine = create_database_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    try:
        for start in range(0, RECORDS, 5000):
            store.append_many(
                [
                    NewEvent(
                        kind="admission.allowed",
                        actor="reconciler",
                        subject=f"apps/ConfigMap/shop/cm-{n}",
                        payload={"n": n, "padding": "x" * 200},
                    )
                    for n in range(start, start + 5000)
                ]
            )
    finally:
        store.close()
    return path


def _dashboard(folder: Path, database: Path, **options: Any) -> tuple[Command, str]:
    port = _free_port()
    config = folder / "gatekeeper.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": f"sqlite:///{database}"},
                "dashboard": {"tokensFile": str(write_tokens(folder)), **options},
            }
        )
    )
    command = Command(["--config", str(config), "dashboard", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "readyz", trust_env=False).status_code == 200:
                return command, url
        except httpx.TransportError:
            pass
        assert command.process.poll() is None, command.rest()
        assert time.monotonic() < deadline, command.text()
        time.sleep(0.1)


@pytest.fixture
def stopped() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in started:
        command.kill()


def _stream(url: str, *, pause: float, command: Command) -> tuple[list[str], Exception | None]:
    """Read an NDJSON export slowly; SIGTERM once its first lines are in. The lines read, and
    the error that ended the read, if one did."""
    lines: list[str] = []
    headers = {"Authorization": f"Bearer {READER}", "Accept": "application/x-ndjson"}
    try:
        with (
            httpx.Client(base_url=url, trust_env=False, timeout=30) as http,
            http.stream("GET", "api/v1/events", headers=headers) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                lines.append(line)
                if len(lines) == 100:
                    command.signal(signal.SIGTERM)
                if pause and len(lines) % 500 == 0:
                    time.sleep(pause)
    except httpx.RemoteProtocolError as exc:
        return lines, exc
    return lines, None


def test_a_stream_under_way_is_finished_before_the_dashboard_exits(
    tmp_path: Path, database: Path, stopped: list[Command]
) -> None:
    command, url = _dashboard(tmp_path, database)
    stopped.append(command)
    lines, error = _stream(url, pause=0.01, command=command)
    assert error is None
    assert json.loads(lines[0]).keys() == {"export"}
    assert [json.loads(line)["seq"] for line in lines[1:]] == list(range(1, RECORDS + 1))
    assert command.wait(30) == 0, command.rest()
    assert "Traceback" not in command.rest(), command.rest()
    assert wait_until_gone(str(tmp_path / "gatekeeper.yaml")) == []


def test_a_stream_still_running_at_the_timeout_is_cut_so_the_client_knows(
    tmp_path: Path, database: Path, stopped: list[Command]
) -> None:
    command, url = _dashboard(tmp_path, database, shutdownTimeout="1s")
    stopped.append(command)
    started = time.monotonic()
    lines, error = _stream(url, pause=0.3, command=command)
    # Cut: never a body that looks whole but is short.
    assert isinstance(error, httpx.RemoteProtocolError), f"read {len(lines)} lines"
    assert 100 <= len(lines) < RECORDS
    assert command.wait(30) == 0, command.rest()
    assert time.monotonic() - started < 15
    assert "Traceback" not in command.rest(), command.rest()
    assert wait_until_gone(str(tmp_path / "gatekeeper.yaml")) == []
