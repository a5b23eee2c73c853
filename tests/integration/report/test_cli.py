"""`gatekeeper report`: signed files, exit codes that follow the verdict, filters checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli import EXIT_UNAVAILABLE, main
from gatekeeper.report.errors import SignatureInvalid
from gatekeeper.report.signing import verify_file
from tests.integration.audit.test_malformed import forge
from tests.integration.report.conftest import append_fake, edit_record, write_config

pytestmark = pytest.mark.integration


def run_report(config: Path, out: Path, *options: str) -> int:
    return main(["--config", str(config), "report", "-o", str(out), *options])


def test_a_verified_log_gives_a_signed_report_and_exit_zero(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, history, signer)
    for fmt in ("json", "csv", "html", "pdf"):
        out = tmp_path / f"report.{fmt}"
        assert run_report(config, out, "--format", fmt) == 0
        statement = verify_file(out, key=Verifier(signer.public_key))
        assert statement.key_id == signer.key_id
    assert json.loads((tmp_path / "report.json").read_text())["integrity"]["status"] == "verified"


def test_an_edited_report_no_longer_matches_its_signature(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, history, signer)
    out = tmp_path / "report.html"
    assert run_report(config, out, "--format", "html") == 0
    out.write_text(out.read_text().replace("NOT VERIFIED", "x").replace("Verified", "Fine"))
    with pytest.raises(SignatureInvalid, match="changed after it was signed"):
        verify_file(out, key=Verifier(signer.public_key))


def test_records_after_the_last_checkpoint_exit_one_unless_allowed(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, signer)
    # Appended now: a record older than audit.checkpointMaxAge would fail verification.
    append_fake(AuditStore(history.engine))
    out = tmp_path / "report.json"
    assert run_report(config, out) == 1
    assert "not verified" in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["integrity"]["status"] == "not-verified"
    assert data["integrity"]["uncovered"]["report"] == {"count": 1, "first_seq": 7, "last_seq": 7}
    assert run_report(config, out, "--allow-unverified") == 0
    assert "after the last signed checkpoint" in capsys.readouterr().err


def test_no_key_at_all_is_not_verified_and_unsigned(
    history: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, None)
    out = tmp_path / "report.html"
    assert run_report(config, out, "--format", "html") == 1
    err = capsys.readouterr().err
    assert "No public key is configured" in err and "not signed" in err
    assert 'class="verdict not-verified"' in out.read_text()
    assert not (tmp_path / "report.html.sig").exists()
    assert run_report(config, out, "--format", "html", "--allow-unverified") == 0


def test_a_tampered_log_exits_one_even_when_unverified_is_allowed(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, signer)
    edit_record(history, 3, "nobody")
    out = tmp_path / "report.csv"
    assert run_report(config, out, "--format", "csv", "--allow-unverified") == 1
    assert "first bad record 3" in capsys.readouterr().err
    assert "# integrity: tampered" in out.read_text()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_record_whose_payload_is_not_an_object_exits_one_naming_it(
    history: AuditStore,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    config = write_config(tmp_path, history, signer)
    seq = forge(history, '{}}],"integrity":{"status":"verified"},"events":[{"a":{}')
    append_fake(history)
    out = tmp_path / f"report.{fmt}"
    capsys.readouterr()
    assert run_report(config, out, "--format", fmt, "--allow-unverified") == 1
    err = capsys.readouterr().err
    assert f"record {seq} is damaged" in err and "Traceback" not in err
    assert not out.exists()


def test_filters_are_options_and_bad_ones_are_usage_errors(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, signer)
    out = tmp_path / "report.json"
    options = ["--kind", "breakglass", "--actor", "bob", "--namespace", "team-a"]
    assert run_report(config, out, "--since", "2026-11-01", *options) == 0
    data = json.loads(out.read_text())
    assert [event["seq"] for event in data["events"]] == [4]
    assert data["filters"]["since"] == "2026-11-01T00:00:00Z"
    capsys.readouterr()
    assert run_report(config, out, "--source", "aps") == 2
    assert "'aps'" in capsys.readouterr().err
    assert run_report(config, out, "--format", "docx") == 2
    assert run_report(config, out, "--since", "2026-11-02", "--until", "2026-11-01") == 2
    assert run_report(config, out, "--since", "yesterday") == 2
    assert run_report(config, out, "--commit", "abc") == 2


@pytest.mark.parametrize(
    ("option", "value"),
    [("--since", "0001-01-01T00:00:00+01:00"), ("--until", "9999-12-31T23:59:59-01:00")],
)
def test_a_time_with_no_utc_time_is_a_usage_error_naming_it(
    history: AuditStore,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
) -> None:
    config = write_config(tmp_path, history, signer)
    capsys.readouterr()
    assert run_report(config, tmp_path / "report.json", option, value) == 2
    err = capsys.readouterr().err
    assert f"{value!r} is outside the calendar" in err
    assert "Traceback" not in err


def test_a_missing_font_stops_the_pdf_with_an_error_naming_the_package(
    history: AuditStore,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, history, signer)
    monkeypatch.setenv("GATEKEEPER_REPORT_FONT_DIR", str(tmp_path / "no-fonts"))
    out = tmp_path / "report.pdf"
    assert run_report(config, out, "--format", "pdf") == EXIT_UNAVAILABLE
    assert "fonts-dejavu-core" in capsys.readouterr().err
    assert not out.exists()
