"""Verification of the provenance ledger: every row the webhook trusts must be vouched for by
the audit chain, exactly as it was written.

A row carries the seq of the `ledger.recorded` record committed with it, which names the row
and its digest. A row whose record does not name it (an invented verified commit), or names
it with another digest (a changed manifest), is a finding naming the table and the row; so
is a row its record names that is gone. Rows older than vouching have no record: the
migration that introduced vouching pinned them (`ledger.legacy`, per table, source and
commit: how many rows and one digest over them). They are reported as unvouched legacy rows,
never as verified, and any change to them, or a row without a record that the pin does not
hold, is a finding. The records' own integrity is the chain's check, made beside this one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gatekeeper.audit import ledger_rows as rows_
from gatekeeper.audit.findings import Finding
from gatekeeper.audit.schema import DesiredObjectRow, EventRow, VerifiedCommitRow
from gatekeeper.audit.store import AuditStore


@dataclass(frozen=True)
class LedgerSummary:
    """How many ledger rows the chain vouches for, and how many predate vouching."""

    vouched: int = 0
    legacy: int = 0

    def as_json(self) -> dict[str, int]:
        return {"vouched_rows": self.vouched, "legacy_rows": self.legacy}


def check_ledger(
    store: AuditStore, *, upto: int | None = None
) -> tuple[list[Finding], LedgerSummary]:
    """Hold both ledger tables against the records that vouch for them (records after
    `upto`, the head the chain was checked to, are taken as not written yet, and rows below
    1 are no records of the chain: neither vouches for anything)."""
    vouchers: dict[int, Mapping[str, Any]] = {}
    legacy_pin: dict[tuple[str, str, str], tuple[int, str]] | None = None
    legacy_seq = 0
    statement = (
        select(EventRow.seq, EventRow.kind, EventRow.payload)
        .where(EventRow.kind.in_([rows_.LEDGER_RECORDED, rows_.LEDGER_LEGACY]), EventRow.seq >= 1)
        .order_by(EventRow.seq)
    )
    with store.translated(), store.engine.connect() as connection:
        for seq, kind, payload in connection.execute(statement):
            if upto is not None and seq > upto:
                break
            # A payload that is not a JSON object vouches for nothing; the chain's walk names
            # its record.
            document = _json_object(payload)
            if kind == rows_.LEDGER_RECORDED:
                vouchers[int(seq)] = document
            elif legacy_pin is None:
                # Only the migration's record pins; one appended later pins nothing.
                legacy_pin, legacy_seq = rows_.legacy_groups(document), int(seq)
    findings: list[Finding] = []
    vouched = legacy = 0
    for table in (rows_.COMMITS, rows_.OBJECTS):
        seen: dict[int, set[str]] = defaultdict(set)
        unvouched: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
        for row in _rows(store, table):
            name, digest = rows_.row_name(table, row), rows_.row_digest(table, row)
            seq = row["vouch_seq"]
            if seq is None:
                unvouched[(table, row["source"], row["commit_sha"])].append((name, digest))
                continue
            seq = int(seq)
            seen[seq].add(name)
            expected = rows_.vouched_rows(vouchers.get(seq, {}), table).get(name)
            if expected is None:
                findings.append(
                    Finding(
                        "ledger_unvouched",
                        0,
                        f"{table} row {name} names record {seq} as its voucher, but that "
                        "record does not vouch for it: the row was added behind the "
                        "gatekeeper's back",
                        table=table,
                        row=name,
                    )
                )
            elif expected != digest:
                findings.append(
                    Finding(
                        "ledger_mismatch",
                        seq,
                        f"{table} row {name} differs from what record {seq} vouched for: "
                        "the row was changed after it was written",
                        table=table,
                        row=name,
                    )
                )
            else:
                vouched += 1
        findings += _missing_rows(table, vouchers, seen)
        legacy_found, legacy_findings = _check_legacy(table, unvouched, legacy_pin, legacy_seq)
        legacy += legacy_found
        findings += legacy_findings
    return findings, LedgerSummary(vouched=vouched, legacy=legacy)


def _json_object(payload: object) -> Mapping[str, Any]:
    try:
        document = json.loads(payload)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


def _rows(store: AuditStore, table: str) -> Iterator[Mapping[Any, Any]]:
    model = VerifiedCommitRow if table == rows_.COMMITS else DesiredObjectRow
    with store.translated(), store.engine.connect() as connection:
        result = connection.execution_options(yield_per=2000).execute(select(model.__table__))
        yield from result.mappings()


def _missing_rows(
    table: str, vouchers: Mapping[int, Mapping[str, Any]], seen: Mapping[int, set[str]]
) -> list[Finding]:
    findings = []
    for seq, payload in vouchers.items():
        for name in rows_.vouched_rows(payload, table):
            if name not in seen.get(seq, ()):
                findings.append(
                    Finding(
                        "ledger_mismatch",
                        seq,
                        f"{table} row {name}, vouched for by record {seq}, is missing or "
                        "names another record: the row was deleted or replaced",
                        table=table,
                        row=name,
                    )
                )
    return findings


def _check_legacy(
    table: str,
    unvouched: Mapping[tuple[str, str, str], list[tuple[str, str]]],
    pin: Mapping[tuple[str, str, str], tuple[int, str]] | None,
    pin_seq: int,
) -> tuple[int, list[Finding]]:
    findings: list[Finding] = []
    legacy = 0
    pinned = pin or {}
    for group, entries in unvouched.items():
        expected = pinned.get(group)
        if expected is None:
            for name, _ in entries:
                findings.append(
                    Finding(
                        "ledger_unvouched",
                        0,
                        f"{table} row {name} has no record vouching for it and was not in "
                        "the ledger when vouching began: the row was added behind the "
                        "gatekeeper's back",
                        table=table,
                        row=name,
                    )
                )
            continue
        actual = (len(entries), rows_.group_digest(digest for _, digest in entries))
        if actual != expected:
            findings.append(
                Finding(
                    "ledger_legacy_changed",
                    pin_seq,
                    f"{table} rows of {group[1]}@{group[2]} written before vouching no longer "
                    f"match what record {pin_seq} pinned ({expected[0]} row(s) then, "
                    f"{actual[0]} now, or changed)",
                    table=table,
                    row=f"{group[1]}@{group[2]}",
                )
            )
        else:
            legacy += len(entries)
    for group, (count, _) in pinned.items():
        if group[0] == table and group not in unvouched:
            findings.append(
                Finding(
                    "ledger_legacy_changed",
                    pin_seq,
                    f"the {count} {table} row(s) of {group[1]}@{group[2]} that record "
                    f"{pin_seq} pinned are gone",
                    table=table,
                    row=f"{group[1]}@{group[2]}",
                )
            )
    return legacy, findings
