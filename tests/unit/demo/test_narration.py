"""The demo's narration: failed expectations stop the run, records show their numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from gatekeeper.audit.events import Record
from gatekeeper.cli import EXIT_CHECK_FAILED, outcome
from gatekeeper.demo.errors import DemoFailed
from gatekeeper.demo.narration import Narrator


def _record(seq: int, kind: str, **payload: object) -> Record:
    return Record(
        seq=seq,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        kind=kind,
        actor="alice",
        subject="apps/Deployment/shop/web",
        source="shop",
        commit="a" * 40,
        payload=payload,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


def test_a_failed_expectation_stops_the_demo_with_its_message_as_a_failed_check() -> None:
    console = Console(record=True, width=100)
    narrator = Narrator(console)

    narrator.expect(True, "never shown")
    with pytest.raises(DemoFailed, match="the refusal was not recorded") as raised:
        narrator.expect(False, "the refusal was not recorded")

    assert outcome(raised.value).code == EXIT_CHECK_FAILED
    output = console.export_text()
    assert "the refusal was not recorded" in output
    assert "never shown" not in output


def test_records_are_listed_with_sequence_number_short_commit_and_dry_run_note() -> None:
    console = Console(record=True, width=140)

    Narrator(console).records(
        [_record(4, "admission.denied", dry_run=True), _record(5, "admission.denied")]
    )

    lines = [line for line in console.export_text().splitlines() if "admission.denied" in line]
    assert len(lines) == 2
    assert lines[0].split()[0] == "4" and "dry run" in lines[0] and "a" * 12 in lines[0]
    assert lines[1].split()[0] == "5" and "dry run" not in lines[1]
    assert "a" * 13 not in lines[0]
