"""`report -o` and `audit bundle -o` never write over a file the configuration names, and
refuse a folder or a missing folder with one line and exit 2."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli import EXIT_USAGE, main
from tests.integration.report.conftest import write_config

pytestmark = pytest.mark.integration

COMMANDS = [
    pytest.param(["report", "--allow-unverified"], id="report"),
    pytest.param(["audit", "bundle", "--allow-unverified"], id="bundle"),
]


def _digests(*paths: Path) -> dict[Path, str]:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _records(store: AuditStore) -> int:
    return store.count()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[AuditStore]:
    """A migrated SQLite log of one record, in a file."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    store.append(NewEvent(kind="sync.applied", actor="reconciler"))
    yield store
    engine.dispose()


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("target", ["audit.pem", "audit.pub", "gatekeeper.yaml"])
def test_the_keys_and_the_config_file_are_refused_and_left_as_they_were(
    history: AuditStore,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    target: str,
) -> None:
    config = write_config(tmp_path, history, signer)
    named = tmp_path / target
    before = _digests(named)
    records = _records(history)
    assert main(["--config", str(config), *command, "-o", str(named)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "refusing to write over" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert _digests(named) == before
    assert _records(history) == records
    assert not (tmp_path / f"{target}.sig").exists()


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("how", ["itself", "symlink", "hardlink", "wal", "dotted"])
def test_the_sqlite_database_is_refused_however_it_is_named(
    sqlite_store: AuditStore,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    how: str,
) -> None:
    store = sqlite_store
    store.checkpoint(signer)
    records = _records(store)
    config = write_config(tmp_path, store, signer)
    database = Path(str(store.engine.url.database))
    output = {
        "itself": database,
        "wal": database.with_name(database.name + "-wal"),
        "dotted": database.parent / "." / database.name,
        "symlink": tmp_path / "link.db",
        "hardlink": tmp_path / "hard.db",
    }[how]
    if how == "symlink":
        output.symlink_to(database)
    elif how == "hardlink":
        os.link(database, output)
    before = _digests(database)
    assert main(["--config", str(config), *command, "-o", str(output)]) == EXIT_USAGE
    assert "database.url" in capsys.readouterr().err
    assert _digests(database) == before
    assert main(["--config", str(config), "audit", "verify"]) == 0
    assert _records(store) == records


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_folder_and_a_folder_are_one_line_errors_for_both_commands(
    history: AuditStore,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    config = write_config(tmp_path, history, signer)
    missing = tmp_path / "no-such-folder" / "out.file"
    assert main(["--config", str(config), *command, "-o", str(missing)]) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["--config", str(config), *command, "-o", str(folder)]) == EXIT_USAGE
    assert "is a folder" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_a_file_inside_the_witness_folder_is_refused(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, signer)
    document = json.loads(config.read_text())
    document["audit"]["witness"] = {"folder": "witness"}
    config.write_text(json.dumps(document))
    (tmp_path / "witness").mkdir()
    output = tmp_path / "witness" / "report.json"
    assert main(["--config", str(config), "report", "-o", str(output)]) == EXIT_USAGE
    assert "audit.witness.folder" in capsys.readouterr().err
    assert not output.exists()


def test_another_existing_file_is_still_replaced(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, history, signer)
    output = tmp_path / "report.json"
    output.write_text("old")
    assert main(["--config", str(config), "report", "-o", str(output)]) == 0
    assert json.loads(output.read_text())["integrity"]["status"] == "verified"
