"""Evidence bundles: written from a real store, checked offline, and every kind of tampering
with every file caught."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli import main
from gatekeeper.report.bundle import verify_bundle, write_bundle
from gatekeeper.report.bundlecheck import BUNDLE_FILES
from gatekeeper.report.errors import BundleInvalid
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.signing import sign_bytes
from tests.integration.report.conftest import START, append_fake, public_pem, write_config

pytestmark = pytest.mark.integration

Files = dict[str, bytes]


@pytest.fixture
def bundle(history: AuditStore, signer: Signer, tmp_path: Path) -> Path:
    path = tmp_path / "evidence.zip"
    write_bundle(
        history, ReportFilters(), path, signer=signer, verifier=Verifier(signer.public_key)
    )
    return path


def read(path: Path) -> Files:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, files: Files) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def reseal(files: Files, signer: Signer) -> None:
    """What an insider holding a signing key would do after an edit: fix the manifest's
    digests and sign it again."""
    manifest = json.loads(files["MANIFEST.json"])
    for name in BUNDLE_FILES:
        signature = sign_bytes(files[name], signer)
        manifest["files"][name] = {"sha256": signature.sha256, "size": signature.size}
    files["MANIFEST.json"] = json.dumps(manifest).encode()
    files["MANIFEST.sig"] = sign_bytes(files["MANIFEST.json"], signer).to_bytes()


def edit_events(files: Files, change: Callable[[list[dict[str, object]]], None]) -> None:
    records = [json.loads(line) for line in files["events.ndjson"].splitlines()]
    change(records)
    files["events.ndjson"] = b"".join(
        json.dumps(record, ensure_ascii=False).encode() + b"\n" for record in records
    )


def problems(path: Path, trusted: Signer | None = None) -> tuple[str, ...]:
    with pytest.raises(BundleInvalid) as caught:
        verify_bundle(path, None if trusted is None else Verifier(trusted.public_key))
    return caught.value.problems


def test_a_fresh_bundle_verifies_offline_against_the_trusted_key(
    bundle: Path, signer: Signer
) -> None:
    checked = verify_bundle(bundle, Verifier(signer.public_key))
    assert (checked.records, checked.first_seq, checked.last_seq) == (6, 1, 6)
    assert checked.checkpoints == 1 and checked.covered_to == 6
    files = read(bundle)
    assert sorted(files) == sorted([*BUNDLE_FILES, "MANIFEST.json", "MANIFEST.sig"])
    first = json.loads(files["events.ndjson"].splitlines()[0])
    assert first["payload"]["signer"] == "alice" and first["prev_hash"] == "0" * 64
    assert files["report.pdf"].startswith(b"%PDF-")
    assert b"report.csv" in files["report.html"]


def test_an_edited_record_is_caught_by_its_digest_and_by_the_chain(
    bundle: Path, signer: Signer
) -> None:
    files = read(bundle)

    def change(records: list[dict[str, object]]) -> None:
        records[2]["actor"] = "nobody"

    edit_events(files, change)
    rewrite(bundle, files)
    assert problems(bundle)[0] == "events.ndjson differs from the digest MANIFEST.json states"
    reseal(files, signer)
    rewrite(bundle, files)
    assert any("hash_mismatch at 3" in problem for problem in problems(bundle, signer))


def test_a_dropped_record_breaks_the_links(bundle: Path, signer: Signer) -> None:
    files = read(bundle)
    edit_events(files, lambda records: records.pop(3))
    reseal(files, signer)
    rewrite(bundle, files)
    found = problems(bundle, signer)
    assert any("missing_record at 4" in problem for problem in found)


def test_a_changed_checkpoint_no_longer_verifies(bundle: Path, signer: Signer) -> None:
    files = read(bundle)
    checkpoints = json.loads(files["checkpoints.json"])
    checkpoints[0]["head_hash"] = "0" * 64
    files["checkpoints.json"] = json.dumps(checkpoints).encode()
    rewrite(bundle, files)
    assert problems(bundle)[0] == "checkpoints.json differs from the digest MANIFEST.json states"
    reseal(files, signer)
    rewrite(bundle, files)
    found = problems(bundle, signer)
    assert any("signature that does not verify" in problem for problem in found)
    assert any("signed a different hash" in problem for problem in found)


def test_a_swapped_public_key_is_caught(bundle: Path, signer: Signer) -> None:
    forger = Signer(Ed25519PrivateKey.generate())
    files = read(bundle)
    files["public-key.pem"] = public_pem(forger)
    rewrite(bundle, files)
    assert "MANIFEST.sig: signed by key" in problems(bundle)[0]
    found = problems(bundle, signer)
    assert found[0].startswith(f"public-key.pem is key {forger.key_id}, not the trusted key")


def test_an_edited_report_is_caught(bundle: Path) -> None:
    files = read(bundle)
    files["report.html"] = files["report.html"].replace(b"Verified", b"Verified!")
    rewrite(bundle, files)
    assert problems(bundle) == ("report.html differs from the digest MANIFEST.json states",)


def test_an_edited_manifest_is_caught(bundle: Path) -> None:
    files = read(bundle)
    manifest = json.loads(files["MANIFEST.json"])
    manifest["filters"]["source"] = "apps"
    files["MANIFEST.json"] = json.dumps(manifest).encode()
    rewrite(bundle, files)
    assert problems(bundle)[0].startswith("MANIFEST.sig: the file changed after it was signed")


def test_a_bundle_resigned_with_another_key_fails_against_the_trusted_one(
    bundle: Path, signer: Signer
) -> None:
    forger = Signer(Ed25519PrivateKey.generate())
    files = read(bundle)
    edit_events(files, lambda records: records.pop())
    files["public-key.pem"] = public_pem(forger)
    reseal(files, forger)
    rewrite(bundle, files)
    found = problems(bundle, signer)
    assert found[0].startswith("public-key.pem is key")
    assert any("MANIFEST.sig: signed by key" in problem for problem in found)
    # Without a pinned key the old checkpoints still give the forgery away.
    assert any("names key" in problem for problem in problems(bundle))


def test_an_extra_or_missing_file_is_caught(bundle: Path) -> None:
    files = read(bundle)
    del files["report.csv"]
    files["notes.txt"] = b"trust me"
    rewrite(bundle, files)
    found = problems(bundle)
    assert "report.csv is missing from the bundle" in found
    assert "notes.txt is in the bundle but not part of its format" in found


def test_records_after_the_last_checkpoint_are_named_as_not_covered(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    append_fake(history)
    path = tmp_path / "evidence.zip"
    made = write_bundle(
        history, ReportFilters(), path, signer=signer, verifier=Verifier(signer.public_key)
    )
    assert made.report.integrity.status == "not-verified"
    assert problems(path, signer) == (
        "records 7..7 are not covered by a checkpoint in the bundle: nothing signed vouches "
        "for them",
    )


def test_a_source_filter_keeps_the_span_contiguous(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    path = tmp_path / "evidence.zip"
    filters = ReportFilters(source="infra", until=START + timedelta(hours=6))
    made = write_bundle(history, filters, path, signer=signer, verifier=Verifier(signer.public_key))
    assert made.report.period.count == 1
    checked = verify_bundle(path, Verifier(signer.public_key))
    assert (checked.first_seq, checked.last_seq) == (5, 6)
    assert checked.manifest["filters"]["source"] == "infra"


def test_the_cli_writes_and_verifies_a_bundle_without_the_database(
    history: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, history, signer)
    path = tmp_path / "evidence.zip"
    command = ["--config", str(config), "audit", "bundle", "-o", str(path)]
    assert main([*command, "--since", "2026-11-01", "--until", "2026-11-02"]) == 0
    trusted = tmp_path / "audit.pub"
    history.close()
    # No --config: the check reads only the zip and the key.
    assert main(["audit", "verify", "--bundle", str(path), "--trusted-key", str(trusted)]) == 0
    assert "ok: 6 records" in capsys.readouterr().out
    assert main(["audit", "verify", "--bundle", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 6

    files = read(path)
    files["report.json"] = files["report.json"].replace(b'"verified"', b'"fine"')
    rewrite(path, files)
    assert main(["audit", "verify", "--bundle", str(path), "--trusted-key", str(trusted)]) == 1
    out, err = capsys.readouterr()
    assert "report.json differs from the digest" in out and "report.json differs" in err


def test_the_cli_refuses_an_unknown_source_and_a_stray_trusted_key(
    history: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, history, signer)
    path = tmp_path / "evidence.zip"
    assert main(["--config", str(config), "audit", "bundle", "-o", str(path), "--source", "x"]) == 2
    assert not path.exists()
    assert main(["audit", "verify", "--trusted-key", str(tmp_path / "audit.pub")]) == 2


def test_a_name_held_twice_is_refused_whichever_copy_a_tool_reads(bundle: Path) -> None:
    files = read(bundle)
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(bundle, "w") as archive,
    ):
        # The forged copy first: `unzip` extracts it, zipfile reads the genuine one.
        archive.writestr("report.pdf", b"%PDF-1.4 forged: everything is fine")
        for name, data in files.items():
            archive.writestr(name, data)
    assert problems(bundle) == (
        "report.pdf is in the bundle 2 times: which copy is read depends on the tool",
    )


@pytest.mark.parametrize("resealed", [False, True])
@pytest.mark.parametrize(
    ("field", "value"), [("commit", 5), ("source", ["apps"]), ("prev_hash", None)]
)
def test_a_record_field_of_the_wrong_type_is_a_problem_not_a_crash(
    bundle: Path, signer: Signer, field: str, value: object, resealed: bool
) -> None:
    files = read(bundle)

    def change(records: list[dict[str, object]]) -> None:
        records[4][field] = value

    edit_events(files, change)
    if resealed:
        reseal(files, signer)
    rewrite(bundle, files)
    found = problems(bundle, signer)
    assert any("line 5 is not a record" in problem for problem in found)


def test_a_manifest_entry_that_is_not_an_object_is_a_problem_not_a_crash(bundle: Path) -> None:
    files = read(bundle)
    manifest = json.loads(files["MANIFEST.json"])
    manifest["files"]["report.pdf"] = "x"
    files["MANIFEST.json"] = json.dumps(manifest).encode()
    rewrite(bundle, files)
    found = problems(bundle)
    assert "report.pdf differs from the digest MANIFEST.json states" in found


# -- the zip itself ----------------------------------------------------------------------------


def _local_entry(name: str, data: bytes) -> bytes:
    """A zip's local entry (header and data) for one file, as any zip tool writes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
        archive.fp.flush()  # type: ignore[union-attr]
        end = archive.start_dir
    return buffer.getvalue()[:end]


def test_a_local_entry_smuggled_before_the_listed_ones_fails(bundle: Path) -> None:
    """An entry in front of the archive is not in the central directory: zipfile and the
    digests see the genuine files, a tool reading local headers in order finds the forgery."""
    smuggled = _local_entry("report.pdf", b"%PDF-1.4 forged: everything is fine")
    bundle.write_bytes(smuggled + bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:  # still a readable zip, all files genuine
        assert archive.testzip() is None
    assert problems(bundle) == (
        f"bytes 0..{len(smuggled) - 1} of the zip, before the entry events.ndjson, belong to "
        "no entry the central directory lists: a tool reading the zip in order could find an "
        "entry there",
    )


def test_a_local_entry_left_out_of_the_central_directory_fails(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = read(bundle)
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, data) in enumerate(files.items()):
            if number == 3:
                archive.writestr("report.html", b"<p>forged</p>")
                archive.filelist.pop()  # written, but left out of the central directory
                del archive.NameToInfo["report.html"]
            archive.writestr(name, data)
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == sorted(files)
    found = problems(bundle)
    assert len(found) == 1
    assert found[0].startswith("bytes ")
    assert found[0].endswith(
        "belong to no entry the central directory lists: a tool reading "
        "the zip in order could find an entry there"
    )
    capsys.readouterr()
    assert main(["audit", "verify", "--bundle", str(bundle)]) == 1
    assert "belong to no entry" in capsys.readouterr().out


class _Unseekable(io.RawIOBase):
    """A pipe: zipfile then follows each entry's data with a data descriptor."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)


@pytest.mark.parametrize("zip64", [False, True])
def test_a_bundle_zipped_again_as_a_stream_still_verifies(
    bundle: Path, signer: Signer, zip64: bool
) -> None:
    files = read(bundle)
    pipe = _Unseekable()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            with archive.open(name, "w", force_zip64=zip64) as entry:
                entry.write(data)
    bundle.write_bytes(bytes(pipe.data))
    with zipfile.ZipFile(bundle) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    assert verify_bundle(bundle, Verifier(signer.public_key)).records == 6


def _data_offset(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    raw = path.read_bytes()
    name_length, extra_length = struct.unpack_from("<HH", raw, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def _invalid_deflate(path: Path, name: str) -> None:
    raw = bytearray(path.read_bytes())
    raw[_data_offset(path, name)] = 0xFF  # a final block of the reserved type 3
    path.write_bytes(bytes(raw))


def _wrong_crc(path: Path, name: str) -> None:
    files = read(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for each, data in files.items():
            archive.writestr(each, data)
        archive.getinfo(name).CRC ^= 1  # the central directory's CRC no longer matches


def _cut_short(path: Path, name: str) -> None:
    files = read(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for each, data in files.items():
            archive.writestr(each, data)
        # The central directory ends the compressed stream before its end marker.
        archive.getinfo(name).compress_size -= 4


@pytest.mark.parametrize("damage", [_invalid_deflate, _wrong_crc, _cut_short])
@pytest.mark.parametrize(
    "name", ["events.ndjson", "report.pdf", "checkpoints.json", "MANIFEST.json"]
)
def test_damaged_compressed_data_is_a_named_problem_not_a_traceback(
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path, str], None],
    name: str,
) -> None:
    damage(bundle, name)
    found = problems(bundle)
    assert found[-1].startswith(f"{name} cannot be read from the zip: "), found
    capsys.readouterr()
    assert main(["audit", "verify", "--bundle", str(bundle)]) == 1
    out, err = capsys.readouterr()
    assert f"{name} cannot be read from the zip" in out
    assert "Traceback" not in out + err
