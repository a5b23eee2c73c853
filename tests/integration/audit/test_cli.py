"""The audit and db commands end to end, with DESIGN section 4's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    assert main(["audit", "keygen", "--out", str(tmp_path / "keys")]) == 0
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(
        json.dumps(
            {
                "database": {"url": database_url},
                "audit": {
                    "signingKeyFile": "keys/audit-ed25519.pem",
                    "publicKeyFile": "keys/audit-ed25519.pub",
                },
            }
        )
    )
    return path


def test_upgrade_checkpoint_and_verify_succeed_on_a_fresh_database(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    AuditStore(engine).append_many([NewEvent(kind="sync.applied", actor="a") for _ in range(3)])
    engine.dispose()
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    assert "checkpoint 1: record 3" in capsys.readouterr().out
    assert main(["--config", str(config), "audit", "verify", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert (report["records"], report["checkpoints"], report["last_checkpoint_seq"]) == (3, 1, 3)
    assert main(["--config", str(config), "audit", "log", "--format", "json", "--limit", "2"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [r["seq"] for r in page["records"]] == [1, 2]
    assert page["next"] == 2


def test_audit_log_prints_an_actor_with_brackets_as_recorded(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An admission request's username is the requester's to choose.
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    AuditStore(engine).append(NewEvent(kind="admission.denied", actor="oidc:[/evil]"))
    engine.dispose()
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "log"]) == 0
    out = capsys.readouterr().out
    assert "oidc:[/evil]" in "".join(out.split())


def test_commands_on_an_unmigrated_database_exit_two_and_say_what_to_run(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "audit", "verify"]) == 2
    assert "gatekeeper db upgrade" in capsys.readouterr().err


def test_db_downgrade_to_base_removes_the_schema(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert main(["--config", str(config), "db", "downgrade", "base"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "db", "current"]) == 0
    assert capsys.readouterr().out.strip() == "base"


def test_db_downgrade_keeps_a_log_that_holds_records_unless_told_to_destroy_it(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    store = AuditStore(engine)
    store.append_many([NewEvent(kind="sync.applied", actor="a") for _ in range(3)])
    capsys.readouterr()
    # 0001 keeps the log but drops the provenance ledger its records vouch for.
    for target in (["base"], ["--", "-5"], ["0003-2"], ["0001"]):
        assert main(["--config", str(config), "db", "downgrade", *target]) == 2
        err = capsys.readouterr().err
        assert "(3 records)" in err and "--destroy-audit-log" in err
    assert store.count() == 3
    assert main(["--config", str(config), "db", "downgrade", "0003"]) == 0
    assert store.count() == 3
    capsys.readouterr()
    assert main(["--config", str(config), "db", "downgrade", "base", "--destroy-audit-log"]) == 0
    assert main(["--config", str(config), "db", "current"]) == 0
    assert capsys.readouterr().out.strip().endswith("base")
    engine.dispose()


def test_verify_without_a_public_key_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/a.db'}}\n")
    assert main(["--config", str(path), "audit", "verify"]) == 2
    assert "audit.publicKeyFile" in capsys.readouterr().err


def test_a_config_with_an_unknown_key_exits_two_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text("database: {url: 'sqlite:///x.db', colour: red}\n")
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    assert "database.colour: unknown key" in capsys.readouterr().err


def test_an_unknown_option_is_a_usage_error() -> None:
    assert main(["audit", "verify", "--format", "xml"]) == 2
    assert main(["--no-such-option"]) == 2


def test_the_console_script_prints_its_version() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("gatekeeper")), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("gatekeeper ")


def test_keygen_writes_a_secret_digest_key_once_and_never_replaces_it(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert main(["audit", "keygen", "--out", str(keys)]) == 0
    digest_key = keys / "secret-digest.key"
    first = digest_key.read_bytes()
    assert len(first.strip()) >= 32
    assert digest_key.stat().st_mode & 0o777 == 0o600
    assert main(["audit", "keygen", "--out", str(keys), "--force"]) == 0
    assert digest_key.read_bytes() == first


def test_reading_the_log_needs_no_secret_digest_key_and_makes_none(
    tmp_path: Path, database_url: str
) -> None:
    from gatekeeper.audit.signing import generate_keypair

    generate_keypair(tmp_path / "keys")
    audit = {"publicKeyFile": "keys/audit-ed25519.pub"}
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(json.dumps({"database": {"url": database_url}, "audit": audit}))
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert main(["--config", str(config), "audit", "verify"]) == 0
    assert main(["--config", str(config), "audit", "log"]) == 0
    assert not (tmp_path / "secret-digest.key").exists()


def test_the_webhook_does_not_start_with_a_secret_digest_key_it_cannot_read(
    tmp_path: Path, database_url: str
) -> None:
    from gatekeeper.admission.app import create_app
    from gatekeeper.audit.secret_digest import SecretKeyError
    from gatekeeper.settings import load_settings

    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        json.dumps(
            {"database": {"url": database_url}, "audit": {"secretDigestKeyFile": "missing.key"}}
        )
    )
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    with pytest.raises(SecretKeyError, match="cannot read the Secret digest key"):
        create_app(load_settings(config))


def test_verify_names_the_records_no_checkpoint_covers(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    store = AuditStore(engine)
    store.append_many([NewEvent(kind="sync.applied", actor="a") for _ in range(3)])
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    store.append_many([NewEvent(kind="sync.applied", actor="a") for _ in range(2)])
    engine.dispose()
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "not covered by a checkpoint (not verified): records 4..5" in out
    assert "records 4..5 are not covered by a checkpoint" in out
    assert main(["--config", str(config), "audit", "verify", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["uncovered_range"] == [4, 5]


def test_audit_log_shows_recorded_text_as_it_is_not_as_markup(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    AuditStore(engine).append(NewEvent(kind="sync.applied", actor="oidc:[/evil]", subject="[b]x"))
    engine.dispose()
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "log"]) == 0
    out = capsys.readouterr().out
    assert "oidc:[/evil]" in out
    assert "[b]x" in out


def test_db_downgrade_below_ledger_vouching_is_refused_while_rows_are_vouched(
    config: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0004's downgrade drops each ledger row's link to the record vouching for it, which a
    later upgrade cannot restore: every vouched row would then read as forged."""
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    engine = create_database_engine(database_url)
    store = AuditStore(engine)
    Ledger(store).record_commit("apps", "a" * 40, signer="alice")
    capsys.readouterr()
    for target in ("0003", "0002"):
        assert main(["--config", str(config), "db", "downgrade", target]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "1 provenance ledger row(s)" in err and "from 0004 on" in err
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert main(["--config", str(config), "db", "downgrade", "0004"]) == 0
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert verify_store(store, None).ok
    assert Ledger(store).verified_commit("apps", "a" * 40) is not None
    engine.dispose()
