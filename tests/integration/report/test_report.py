"""Compliance reports from a real audit store: integrity stated honestly, filters, formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pypdf
import pytest
from sqlalchemy import text

from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.report.errors import FilterError
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.model import build_report
from gatekeeper.report.render import render
from tests.integration.audit.test_tamper import tamper
from tests.integration.report.conftest import START, SUBJECT, append_fake, edit_record

pytestmark = pytest.mark.integration


def csv_rows(data: bytes) -> list[dict[str, str]]:
    rows = [row for row in csv.reader(io.StringIO(data.decode())) if not row[0].startswith("#")]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def csv_preamble(data: bytes) -> list[str]:
    """The comment rows: each one cell, starting with `#`."""
    rows = [row for row in csv.reader(io.StringIO(data.decode())) if row[0].startswith("#")]
    assert all(len(row) == 1 for row in rows), rows
    return [row[0] for row in rows]


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_a_covered_log_with_a_key_is_verified_and_grouped_into_sections(
    history: AuditStore, signer: Signer
) -> None:
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    assert report.integrity.status == "verified" and report.integrity.reasons == ()
    assert report.integrity.covering_checkpoint is not None
    assert report.integrity.covering_checkpoint.seq == 6
    assert report.counts == {
        "admission.denied": 1,
        "breakglass": 1,
        "drift.detected": 1,
        "rollback": 1,
        "sync.applied": 1,
        "sync.rejected": 1,
    }
    assert report.sources == {"(none)": 2, "apps": 3, "infra": 1}
    sections = {section.key: section for section in report.sections}
    assert sections["rejected"].rows[0].summary == "commit bbbb is unsigned"
    assert sections["breakglass"].rows[0].checkpoint == 6
    assert sections["policy"].count == 0


def test_a_record_appended_after_the_last_checkpoint_is_never_shown_as_verified(
    history: AuditStore, signer: Signer
) -> None:
    append_fake(history)
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    integrity = report.integrity
    assert integrity.status == "not-verified"
    assert (integrity.uncovered_period.count, integrity.uncovered_period.first) == (1, 7)
    assert integrity.uncovered_log.describe() == "1 record(s), seq 7"
    changes = {section.key: section for section in report.sections}["changes"]
    assert [(row.seq, row.covered) for row in changes.rows] == [(1, True), (7, False)]
    html = render(report, "html").decode()
    assert "NOT VERIFIED" in html and 'class="verdict not-verified"' in html
    assert "not covered" in html
    data = json.loads(render(report, "json"))
    assert data["integrity"]["status"] == "not-verified" and data["integrity"]["ok"] is False
    assert data["events"][-1]["checkpoint"] is None
    assert csv_rows(render(report, "csv"))[-1]["checkpoint"] == "not covered"


def test_uncovered_records_outside_the_period_leave_the_period_verified(
    history: AuditStore, signer: Signer
) -> None:
    append_fake(history)
    filters = ReportFilters(until=START + timedelta(hours=6))
    integrity = build_report(history, filters, verifier=Verifier(signer.public_key)).integrity
    assert integrity.status == "verified"
    assert integrity.uncovered_log.count == 1 and integrity.uncovered_period.count == 0


def test_no_public_key_means_not_verified_never_green(history: AuditStore) -> None:
    report = build_report(history, ReportFilters(), verifier=None)
    assert report.integrity.status == "not-verified"
    assert "No public key is configured" in report.integrity.reasons[0]
    assert 'class="verdict verified"' not in render(report, "html").decode()


def test_a_tampered_log_is_reported_as_such_in_every_format(
    history: AuditStore, signer: Signer
) -> None:
    edit_record(history, 3, "nobody")
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    assert report.integrity.status == "tampered" and report.integrity.first_bad_seq == 3
    assert json.loads(render(report, "json"))["integrity"]["first_bad_seq"] == 3
    preamble = csv_preamble(render(report, "csv"))
    assert "# integrity: tampered" in preamble
    assert any(line.startswith("# finding: hash_mismatch at 3") for line in preamble)
    assert "TAMPERED" in pdf_text(render(report, "pdf"))


def test_filters_select_records_and_every_format_states_them(
    history: AuditStore, signer: Signer
) -> None:
    filters = ReportFilters.parse(
        since="2026-11-01T01:00:00Z", until="2026-11-01T05:00:00Z", namespace="team-a"
    )
    report = build_report(history, filters, verifier=Verifier(signer.public_key))
    assert [row.seq for section in report.sections for row in section.rows] == [3, 4]
    assert json.loads(render(report, "json"))["filters"] == {
        "since": "2026-11-01T01:00:00Z",
        "until": "2026-11-01T05:00:00Z",
        "source": None,
        "namespace": "team-a",
        "kinds": [],
        "object_kind": None,
        "actor": None,
        "commit": None,
    }
    assert "# filter: Namespace: team-a" in render(report, "csv").decode()
    assert "Namespace: team-a" in render(report, "html").decode()
    assert "Namespace: team-a" in pdf_text(render(report, "pdf"))


def test_kind_actor_object_kind_and_commit_filters(history: AuditStore) -> None:
    def seqs(**given: object) -> list[int]:
        report = build_report(history, ReportFilters.parse(**given), verifier=None)
        return [record.seq for record in report.iter_records()]

    assert seqs(kinds=["sync.rejected", "rollback"]) == [2, 6]
    assert seqs(actor="bob") == [4]
    assert seqs(object_kind="Deployment") == [3, 4, 5]
    assert seqs(commit="a" * 40) == [1, 6]
    assert seqs(source="infra") == [5]


def test_an_unknown_source_is_an_error_not_an_empty_green_report(history: AuditStore) -> None:
    with pytest.raises(FilterError, match="'aps'") as caught:
        build_report(history, ReportFilters(source="aps"), verifier=None)
    assert caught.value.option == "--source"
    with pytest.raises(FilterError, match=r"sync\.aplied"):
        build_report(history, ReportFilters(kinds=("sync.aplied",)), verifier=None)


def test_json_is_complete_with_payloads_and_hashes(history: AuditStore, signer: Signer) -> None:
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    data = json.loads(render(report, "json"))
    assert [event["seq"] for event in data["events"]] == [1, 2, 3, 4, 5, 6]
    first = data["events"][0]
    assert first["payload"] == {"applied": ["apps/Deployment/team-a/web"], "signer": "alice"}
    assert first["prev_hash"] == "0" * 64 and len(first["hash"]) == 64
    assert first["section"] == "changes" and first["checkpoint"] == 6
    assert data["integrity"]["covering_checkpoint"]["signature"]
    assert data["integrity"]["head"]["seq"] == 6
    assert data["how_to_verify"]
    assert "c2VjcmV0" not in json.dumps(data)


def test_html_and_pdf_rows_carry_seq_and_hash(history: AuditStore, signer: Signer) -> None:
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    row = {section.key: section for section in report.sections}["rejected"].rows[0]
    html = render(report, "html").decode()
    assert f'<code title="{row.hash}">{row.hash[:16]}</code>' in html
    assert f'id="seq-{row.seq}"' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert row.hash[:16] in pdf_text(render(report, "pdf"))


def test_csv_defuses_formulas_and_holds_every_record(history: AuditStore) -> None:
    rows = csv_rows(render(build_report(history, ReportFilters(), verifier=None), "csv"))
    assert [row["seq"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[5]["summary"].startswith("'=")
    assert rows[0]["summary"] == "applied 1 object(s), signed by alice"


def test_pdf_prints_text_outside_latin_1(history: AuditStore, signer: Signer) -> None:
    report = build_report(history, ReportFilters(), verifier=Verifier(signer.public_key))
    text = pdf_text(render(report, "pdf"))
    assert "INC-42 outage ü € [U+4E2D] →" in text
    assert "outage ? ?" not in text
    assert "wüb€" in text


def test_sections_show_their_first_rows_and_point_to_the_appendix(
    history: AuditStore, signer: Signer
) -> None:
    report = build_report(
        history, ReportFilters(), verifier=Verifier(signer.public_key), row_limit=1
    )
    assert all(len(section.rows) <= 1 for section in report.sections)
    html = render(report, "html").decode()
    assert "report --format csv -o events.csv" in html
    assert len(json.loads(render(report, "json"))["events"]) == 6


def test_the_subject_with_unicode_survives_json_csv_and_html(history: AuditStore) -> None:
    report = build_report(history, ReportFilters(), verifier=None)
    assert SUBJECT in render(report, "json").decode()
    assert SUBJECT in render(report, "csv").decode()
    assert SUBJECT in render(report, "html").decode()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ReportFilters(namespace="team-a"), [3, 4]),
        (ReportFilters(object_kind="Deployment"), [3, 4, 5]),
        (ReportFilters(namespace="team-a", object_kind="Deployment"), [3, 4]),
    ],
)
def test_namespace_and_object_kind_come_from_the_hashed_subject_not_the_index_columns(
    history: AuditStore, signer: Signer, filters: ReportFilters, expected: list[int]
) -> None:
    """obj_namespace and obj_kind are outside the hash: moving the first and last matching
    records out of them (and another one in) changes neither the report's records nor its
    count."""
    verifier = Verifier(signer.public_key)
    before = build_report(history, filters, verifier=verifier)
    assert [entry.seq for entry in before.iter_records()] == expected
    tamper(
        history,
        "UPDATE audit_events SET obj_namespace = 'elsewhere', obj_kind = 'Nothing' "
        f"WHERE seq IN ({expected[0]}, {expected[-1]})",
    )
    after = build_report(history, filters, verifier=verifier)
    assert [entry.seq for entry in after.iter_records()] == expected
    assert after.period.count == len(expected)
    assert json.loads(render(after, "json"))["summary"]["events"] == len(expected)
    with history.engine.begin() as connection:  # the triggers are gone already
        connection.execute(
            text(
                "UPDATE audit_events SET obj_namespace = 'team-a', obj_kind = 'Deployment' "
                "WHERE seq IN (1, 6)"
            )
        )
    moved_in = build_report(history, filters, verifier=verifier)
    assert [entry.seq for entry in moved_in.iter_records()] == expected


def test_the_csv_preamble_is_one_cell_a_line_and_never_a_formula(
    history: AuditStore, signer: Signer
) -> None:
    """A filter is free text: a comma in it must not start a cell of its own, which a
    spreadsheet would run as a formula."""
    filters = ReportFilters(actor='x,=HYPERLINK("https://evil.example/"),"@SUM(1)')
    data = render(build_report(history, filters, verifier=Verifier(signer.public_key)), "csv")
    cells = [cell for row in csv.reader(io.StringIO(data.decode())) for cell in row]
    assert [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")] == []
    preamble = csv_preamble(data)
    assert preamble[0].startswith("# GitOps Gatekeeper compliance report, ")
    assert 'filter: Actor: x,=HYPERLINK("https://evil.example/"),"@SUM(1)' in " ".join(preamble)
    assert "# events: 0" in preamble


def test_pdf_prints_text_as_given_and_counts_its_pages(history: AuditStore, signer: Signer) -> None:
    """fpdf replaces its page-count alias wherever it occurs: a filter or record holding the
    default alias `{nb}` would print as the page count, misstating what the report covers."""
    filters = ReportFilters(actor="eve{nb}\ue000")
    report = build_report(history, filters, verifier=Verifier(signer.public_key), row_limit=5)
    pages = pypdf.PdfReader(io.BytesIO(render(report, "pdf"))).pages
    printed = "\n".join(page.extract_text() for page in pages)
    assert "Actor: eve{nb}[U+E000]" in printed
    assert f"page 1/{len(pages)}" in printed
    assert f"page {len(pages)}/{len(pages)}" in printed
