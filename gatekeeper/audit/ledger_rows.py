"""Ledger rows as the audit chain vouches for them: each row's name and digest, and the
payloads of the records that vouch for rows.

The digests are a format: a migration pinned rows with them and records in the chain carry
them, so they may never change. A row's digest is SHA-256 over the canonical JSON of every
column but `vouch_seq`, times written as the chain writes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gatekeeper.audit import chain, events
from gatekeeper.canonical import NotCanonicalisable, canonical_json
from gatekeeper.kube.objects import ObjectKey

LEDGER_RECORDED = events.LEDGER_RECORDED
LEDGER_LEGACY = events.LEDGER_LEGACY
ACTOR = "gatekeeper-ledger"
COMMITS = "verified_commits"
OBJECTS = "desired_objects"


def commit_row_name(source: str, commit: str) -> str:
    return f"{source}@{commit}"


def object_row_name(source: str, commit: str, key: ObjectKey) -> str:
    return f"{source}@{commit} {key}"


def _digest(document: Mapping[Any, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(document)).hexdigest()


def commit_row_digest(row: Mapping[Any, Any]) -> str:
    """Of a `verified_commits` row given as a mapping of its columns (`commit_sha`...)."""
    return _digest(
        {
            "source": row["source"],
            "commit": row["commit_sha"],
            "verified_at": _time(row["verified_at"]),
            "signer": row["signer"],
            "key_id": row["key_id"],
            "format": row["format"],
        }
    )


def object_row_digest(row: Mapping[Any, Any]) -> str:
    """Of a `desired_objects` row given as a mapping of its columns."""
    return _digest(
        {
            "source": row["source"],
            "commit": row["commit_sha"],
            "api_group": row["api_group"],
            "kind": row["kind"],
            "namespace": row["namespace"],
            "name": row["name"],
            "path": row["path"],
            "digest": row["digest"],
            "manifest": row["manifest"],
            "recorded_at": _time(row["recorded_at"]),
        }
    )


def row_name(table: str, row: Mapping[Any, Any]) -> str:
    if table == COMMITS:
        return commit_row_name(row["source"], row["commit_sha"])
    key = ObjectKey(row["api_group"], row["kind"], row["namespace"], row["name"])
    return object_row_name(row["source"], row["commit_sha"], key)


def row_digest(table: str, row: Mapping[Any, Any]) -> str:
    """The row's digest; for a row a column of which is not of its type (only an edit in the
    database makes one), a text no digest can be, so that it matches nothing vouched for."""
    try:
        return commit_row_digest(row) if table == COMMITS else object_row_digest(row)
    except (TypeError, ValueError, RecursionError, NotCanonicalisable):
        return "unreadable"


def vouch_payload(table: str, rows: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """The payload of the `ledger.recorded` record written with `rows` of `table`."""
    return {
        "table": table,
        "rows": [{"row": row_name(table, row), "digest": row_digest(table, row)} for row in rows],
    }


def vouched_rows(payload: Mapping[Any, Any], table: str) -> dict[str, str]:
    """Row name -> digest of what a `ledger.recorded` payload vouches for in `table`."""
    if (
        not isinstance(payload, Mapping)
        or payload.get("table") != table
        or not isinstance(payload.get("rows"), list)
    ):
        return {}
    return {
        str(entry["row"]): str(entry["digest"])
        for entry in payload["rows"]
        if isinstance(entry, Mapping) and "row" in entry and "digest" in entry
    }


def group_digest(digests: Iterable[str]) -> str:
    """One digest over a set of row digests, in any order."""
    return "sha256:" + hashlib.sha256("\n".join(sorted(digests)).encode("ascii")).hexdigest()


def legacy_payload(groups: Mapping[tuple[str, str, str], list[str]]) -> dict[str, Any]:
    """The payload pinning rows that predate vouching: per (table, source, commit), how many
    rows and one digest over them."""
    return {
        "groups": [
            {
                "table": table,
                "source": source,
                "commit": commit,
                "rows": len(digests),
                "digest": group_digest(digests),
            }
            for (table, source, commit), digests in sorted(groups.items())
        ]
    }


def legacy_groups(payload: Mapping[Any, Any]) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(table, source, commit) -> (rows, digest) of a `ledger.legacy` payload."""
    found: dict[tuple[str, str, str], tuple[int, str]] = {}
    groups = payload.get("groups") if isinstance(payload, Mapping) else None
    for entry in groups if isinstance(groups, list) else []:
        rows = entry.get("rows") if isinstance(entry, Mapping) else None
        if isinstance(entry, Mapping) and (rows is None or type(rows) is int):
            key = (str(entry.get("table")), str(entry.get("source")), str(entry.get("commit")))
            found[key] = (rows or 0, str(entry.get("digest")))
    return found


def _time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return chain.format_time(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"not a time: {value!r}")
