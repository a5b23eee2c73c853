"""Witness entries, the folder witness, exported ConfigMaps, and the witness check itself."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.audit import chain
from gatekeeper.audit.errors import (
    SigningKeyError,
    WitnessConflict,
    WitnessError,
    WitnessUnavailable,
)
from gatekeeper.audit.signing import Signer, Verifier, checkpoint_message
from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.verify import check_witness, verify_store
from gatekeeper.audit.witness import (
    ExportedConfigMaps,
    FolderWitness,
    WitnessCopy,
    entry_name,
    entry_text,
    open_witness,
    parse_entry,
)
from gatekeeper.audit.witness_coverage import WitnessCoverage
from gatekeeper.settings import Settings

KEY = Signer(Ed25519PrivateKey.generate())
MOMENT = datetime(2027, 1, 15, 10, 0, 0, 123456, tzinfo=UTC)


def signed(
    checkpoint_id: int, seq: int, head: str, *, signer: Signer = KEY, moment: datetime = MOMENT
) -> Checkpoint:
    message = checkpoint_message(
        seq=seq, head_hash=head, time=chain.format_time(moment), key=signer.key_id
    )
    return Checkpoint(
        id=checkpoint_id,
        seq=seq,
        head_hash=head,
        time=moment,
        key_id=signer.key_id,
        signature=signer.sign(message),
    )


def digest(seq: int) -> str:
    return f"{seq:064x}"


@given(
    checkpoint_id=st.integers(min_value=1, max_value=10**10),
    seq=st.integers(min_value=0, max_value=10**12),
    head=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    microseconds=st.integers(min_value=0, max_value=10**12),
    compact=st.booleans(),
)
def test_an_entry_reads_back_as_the_checkpoint_it_was_made_from(
    checkpoint_id: int, seq: int, head: str, microseconds: int, compact: bool
) -> None:
    moment = MOMENT + timedelta(microseconds=microseconds)
    checkpoint = signed(checkpoint_id, seq, head, moment=moment)
    back = parse_entry(entry_text(checkpoint, compact=compact), entry_name(checkpoint))
    assert back == checkpoint
    assert Verifier(KEY.public_key).is_valid(back.message(), back.signature)


def test_entry_names_sort_like_checkpoints() -> None:
    names = [entry_name(signed(i, i * 10, digest(i))) for i in (1, 2, 10, 100)]
    assert names == sorted(names)
    assert names[0] == "checkpoint-0000000001-000000000010.json"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "is not JSON"),
        ('{"type": "something/else"}', "is not a gatekeeper.audit.checkpoint/v1"),
        ('{"type": "gatekeeper.audit.checkpoint/v1", "id": 1}', "lacks seq"),
    ],
)
def test_an_entry_that_is_not_one_is_refused_by_name(text: str, complaint: str) -> None:
    with pytest.raises(WitnessError, match=complaint) as caught:
        parse_entry(text, "somewhere/checkpoint-0000000001-000000000001.json")
    assert "somewhere/checkpoint-0000000001" in str(caught.value)


def test_an_entry_with_a_boolean_for_a_number_is_refused() -> None:
    document = json.loads(entry_text(signed(1, 5, digest(5))))
    document["seq"] = True
    with pytest.raises(WitnessError, match="bad field"):
        parse_entry(json.dumps(document), "x")


def test_an_entry_whose_name_disagrees_with_its_content_is_refused() -> None:
    text = entry_text(signed(1, 5, digest(5)))
    with pytest.raises(WitnessError, match="not what its name says"):
        parse_entry(text, "checkpoint-0000000002-000000000005.json")


def test_the_folder_witness_keeps_one_whole_file_per_checkpoint(tmp_path: Path) -> None:
    witness = FolderWitness(tmp_path / "witness")
    first, second = signed(1, 6, digest(6)), signed(2, 10, digest(10))
    witness.write(first)
    witness.write(second)
    assert sorted(p.name for p in (tmp_path / "witness").iterdir()) == [
        entry_name(first),
        entry_name(second),
    ]
    assert witness.read() == WitnessCopy(str(tmp_path / "witness"), (first, second))


def test_the_folder_witness_takes_the_same_checkpoint_again_and_never_another(
    tmp_path: Path,
) -> None:
    witness = FolderWitness(tmp_path)
    kept = signed(2, 10, digest(10))
    witness.write(kept)
    before = (tmp_path / entry_name(kept)).read_bytes()
    witness.write(kept)
    # The database's checkpoint 2 was deleted and signed again over a rewritten record 10.
    with pytest.raises(WitnessConflict, match="were deleted or rewritten"):
        witness.write(signed(2, 10, digest(99)))
    assert (tmp_path / entry_name(kept)).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [entry_name(kept)]


def test_the_folder_witness_says_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WitnessUnavailable, match="cannot write"):
        FolderWitness(blocker / "witness").write(signed(1, 1, digest(1)))


def test_reading_a_folder_skips_what_is_not_an_entry(tmp_path: Path) -> None:
    kept = signed(1, 3, digest(3))
    FolderWitness(tmp_path).write(kept)
    (tmp_path / "README.md").write_text("witness of the audit log\n")
    (tmp_path / ".x.tmp").write_text("half an entry")
    assert FolderWitness(tmp_path).read().checkpoints == (kept,)


def test_reading_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WitnessError, match="does not exist"):
        FolderWitness(tmp_path / "nowhere").read()


def config_map(name: str, entries: list[Checkpoint]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "audit"},
        "data": {entry_name(c): entry_text(c, compact=True) for c in entries} | {"unrelated": "x"},
    }


def test_an_exported_list_of_config_maps_is_read_whole(tmp_path: Path) -> None:
    one, two, three = (signed(i, i, digest(i)) for i in (1, 2, 3))
    export = tmp_path / "witness.json"
    export.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [config_map("w.1", [three]), config_map("w", [one, two])],
            }
        )
    )
    assert ExportedConfigMaps(export).read().checkpoints == (one, two, three)
    single = tmp_path / "single.yaml"
    single.write_text(json.dumps(config_map("w", [one])))
    assert ExportedConfigMaps(single).read().checkpoints == (one,)


def test_an_export_that_is_no_config_map_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "witness.json"
    export.write_text('"just text"')
    with pytest.raises(WitnessError, match="not a ConfigMap"):
        ExportedConfigMaps(export).read()


def test_the_witness_option_names_a_folder_a_file_or_a_config_map(tmp_path: Path) -> None:
    (tmp_path / "export.json").write_text("{}")
    settings = Settings()
    assert isinstance(open_witness(str(tmp_path), settings), FolderWitness)
    assert isinstance(open_witness(str(tmp_path / "export.json"), settings), ExportedConfigMaps)
    with pytest.raises(WitnessError, match="neither a folder"):
        open_witness(str(tmp_path / "nowhere"), settings)
    with pytest.raises(WitnessError, match="NAMESPACE/NAME"):
        open_witness("configmap:Not_A_Name", settings)


# -- the check -----------------------------------------------------------------------------

VERIFIER = Verifier(KEY.public_key)
HASHES = {seq: digest(seq) for seq in range(1, 11)}


def problems(findings: list[object]) -> list[tuple[str, int]]:
    return [(f.problem, f.seq) for f in findings]  # type: ignore[attr-defined]


def test_a_witness_that_agrees_with_the_database_and_the_chain_finds_nothing() -> None:
    kept = [signed(1, 6, digest(6)), signed(2, 10, digest(10))]
    assert check_witness(kept, kept, HASHES, 10, VERIFIER) == []


def test_a_witnessed_checkpoint_deleted_from_the_database_is_named() -> None:
    kept = [signed(1, 6, digest(6)), signed(2, 10, digest(10))]
    findings = check_witness(kept, kept[:1], HASHES, 10, VERIFIER)
    assert problems(findings) == [("witness_missing", 10)]
    assert "witnessed checkpoint 2 (record 10" in findings[0].detail


def test_a_checkpoint_signed_again_in_the_database_is_named() -> None:
    witnessed = [signed(1, 6, digest(6))]
    resigned = [signed(1, 6, digest(6), moment=MOMENT + timedelta(seconds=1))]
    findings = check_witness(witnessed, resigned, HASHES, 10, VERIFIER)
    assert problems(findings) == [("witness_differs", 6)]


def test_a_chain_rewritten_below_a_witnessed_checkpoint_is_named() -> None:
    kept = [signed(1, 6, digest(6))]
    findings = check_witness(kept, kept, {**HASHES, 6: digest(66)}, 10, VERIFIER)
    assert problems(findings) == [("witness_chain_mismatch", 6)]


def test_a_log_shorter_than_a_witnessed_checkpoint_is_named_where_it_ends() -> None:
    kept = [signed(1, 10, digest(10))]
    findings = check_witness(kept, [], {seq: digest(seq) for seq in range(1, 8)}, 7, VERIFIER)
    assert problems(findings) == [("witness_missing", 10), ("truncated", 8)]


def test_a_witnessed_checkpoint_that_does_not_verify_vouches_for_nothing() -> None:
    other = Signer(Ed25519PrivateKey.generate())
    forged = signed(1, 6, digest(66), signer=other)
    bad = signed(2, 10, digest(10))
    bad = Checkpoint(bad.id, bad.seq, digest(99), bad.time, bad.key_id, bad.signature)
    findings = check_witness([forged, bad], [], HASHES, 10, VERIFIER)
    assert problems(findings) == [("witness_unknown_key", 6), ("witness_bad_signature", 10)]


def test_records_after_the_witnesss_newest_checkpoint_are_not_covered() -> None:
    coverage = WitnessCoverage(location="w", checkpoints=2, last_seq=10, head_seq=12)
    assert coverage.not_covered == (11, 12)
    assert coverage.as_json()["not_covered"] == {"first": 11, "last": 12, "records": 2}
    assert WitnessCoverage("w", 1, 12, 12).not_covered is None
    assert WitnessCoverage("w", 1, None, 3).not_covered == (1, 3)


def test_a_witness_needs_the_public_key_and_at_least_one_checkpoint(tmp_path: Path) -> None:
    store: object = None  # never reached: both refusals come before the database is read
    with pytest.raises(SigningKeyError):
        verify_store(store, None, witness=WitnessCopy("w", (signed(1, 1, digest(1)),)))  # type: ignore[arg-type]
    with pytest.raises(WitnessError, match="holds no checkpoint"):
        verify_store(store, VERIFIER, witness=WitnessCopy(str(tmp_path), ()))  # type: ignore[arg-type]


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    witness = FolderWitness(tmp_path)
    kept = signed(1, 1, digest(1))
    witness.write(kept)
    witness.write(kept)
    assert os.listdir(tmp_path) == [entry_name(kept)]
