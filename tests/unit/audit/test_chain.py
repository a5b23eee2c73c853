"""The hash chain's canonical bytes and the pure chain check, including property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.audit import chain
from gatekeeper.audit.events import GENESIS_HASH
from gatekeeper.audit.verify import check_chain

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
texts = st.text(max_size=40)
optional_texts = st.none() | texts


@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    kind=texts,
    actor=texts,
    subject=texts,
    source=optional_texts,
    commit=optional_texts,
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_record_bytes_are_exactly_rfc8785_of_the_record(
    seq: int,
    kind: str,
    actor: str,
    subject: str,
    source: str | None,
    commit: str | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> None:
    time = chain.format_time(datetime(2026, 11, 26, 4, 30, 0, 123456, tzinfo=UTC))
    payload_json = chain.canonical_payload(payload)
    fast = chain.record_bytes(
        seq=seq,
        time=time,
        kind=kind,
        actor=actor,
        subject=subject,
        source=source,
        commit=commit,
        payload_json=payload_json,
        prev_hash=prev_hash,
    )
    reference = rfc8785.dumps(
        {
            "seq": seq,
            "time": time,
            "kind": kind,
            "actor": actor,
            "subject": subject,
            "source": source,
            "commit": commit,
            "payload": payload,
            "prev_hash": prev_hash,
        }
    )
    assert fast == reference


def test_time_is_formatted_in_utc_with_microseconds() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC) + timedelta(hours=0)
    assert chain.format_time(moment) == "2026-01-02T03:04:05.000006Z"
    assert chain.parse_time(chain.format_time(moment)) == moment


def test_kinds_are_dotted_lower_case_names() -> None:
    assert chain.is_valid_kind("sync.applied")
    assert chain.is_valid_kind("breakglass")
    assert not chain.is_valid_kind("Sync.Applied")
    assert not chain.is_valid_kind("sync..applied")
    assert not chain.is_valid_kind("")


Row = tuple[Any, ...]
FIELDS = ("seq", "time", "kind", "actor", "subject", "source", "commit", "payload", "prev", "hash")


def build_rows(count: int) -> list[Row]:
    rows: list[Row] = []
    prev = GENESIS_HASH
    start = datetime(2026, 11, 26, tzinfo=UTC)
    for seq in range(1, count + 1):
        time = chain.format_time(start + timedelta(seconds=seq))
        payload = chain.canonical_payload({"n": seq, "object": {"name": f"app-{seq}"}})
        fields = {
            "seq": seq,
            "time": time,
            "kind": "sync.applied",
            "actor": "reconciler",
            "subject": f"apps/Deployment/app-{seq}",
            "source": "apps",
            "commit": f"{seq:040x}",
            "payload_json": payload,
            "prev_hash": prev,
        }
        digest = chain.record_hash(**fields)  # type: ignore[arg-type]
        rows.append(
            (
                seq,
                time,
                "sync.applied",
                "reconciler",
                fields["subject"],
                "apps",
                fields["commit"],
                payload,
                prev,
                digest,
            )
        )
        prev = digest
    return rows


def test_an_untouched_chain_has_no_findings() -> None:
    walk = check_chain(build_rows(20))
    assert (walk.count, walk.last_seq, walk.findings) == (20, 20, [])
    assert walk.last_hash == build_rows(20)[-1][9]


def mutate(value: Any, replacement: str) -> Any:
    if isinstance(value, int):
        return value + 1
    if value is None:
        return replacement
    if value == replacement:
        return replacement + "x"
    return replacement


@settings(max_examples=200)
@given(
    count=st.integers(min_value=1, max_value=12),
    data=st.data(),
    replacement=st.text(min_size=1, max_size=10),
)
def test_any_single_change_to_any_stored_field_is_detected(
    count: int, data: st.DataObject, replacement: str
) -> None:
    rows = build_rows(count)
    index = data.draw(st.integers(min_value=0, max_value=count - 1), label="row")
    field = data.draw(st.integers(min_value=0, max_value=len(FIELDS) - 1), label="field")
    row = list(rows[index])
    if FIELDS[field] == "payload":
        row[field] = chain.canonical_payload({"tampered": replacement})
    elif FIELDS[field] == "time":
        row[field] = chain.format_time(chain.parse_time(row[field]) + timedelta(microseconds=1))
    else:
        row[field] = mutate(row[field], replacement)
    rows[index] = tuple(row)
    rows.sort(key=lambda item: item[0])
    findings = check_chain(rows).findings
    assert findings, f"changing {FIELDS[field]} of record {index + 1} went unnoticed"
    assert min(f.seq for f in findings) <= index + 1 + (1 if FIELDS[field] == "hash" else 0)


def test_a_missing_record_is_named() -> None:
    rows = build_rows(10)
    del rows[4]
    findings = check_chain(rows).findings
    assert findings[0].problem == "missing_record"
    assert findings[0].seq == 5


def test_a_recomputed_chain_after_an_edit_still_breaks_at_the_edit() -> None:
    rows = build_rows(6)
    row = list(rows[2])
    row[3] = "mallory"
    rows[2] = tuple(row)
    findings = check_chain(rows).findings
    assert [f.seq for f in findings] == [3]
    assert findings[0].problem == "hash_mismatch"


def test_a_segment_walk_takes_its_first_link_on_trust_and_reports_it() -> None:
    rows = build_rows(10)[4:]
    walk = check_chain(rows, start_seq=5, start_prev=None, keep={7})
    assert walk.findings == []
    assert walk.first_prev == build_rows(10)[3][9]
    assert walk.kept == {7: build_rows(10)[6][9]}


def _variants(value: Any) -> list[str]:
    """The canonical text of `value` and texts that differ from it only in form."""
    import json

    import orjson

    texts = [rfc8785.dumps(value).decode("utf-8")]
    texts.append(json.dumps(value, ensure_ascii=False))  # spaces, unsorted, floats as Python
    texts.append(json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True))
    try:
        texts.append(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
        texts.append(orjson.dumps(value).decode())
    except (TypeError, orjson.JSONEncodeError):
        pass
    return texts


@settings(max_examples=400)
@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_the_fast_payload_checks_agree_with_the_rfc8785_check(value: dict[str, Any]) -> None:
    """orjson's and the C encoder's shortcuts may only accept what RFC 8785 writes."""
    for text in _variants(value):
        assert chain.payload_problem(text) == chain._payload_problem(text), text


def test_the_fast_payload_checks_accept_what_the_writer_writes() -> None:
    payload = {"uid": "705ab4f5", "groups": ["a", "b"], "n": 17, "x": 1.5, "big": 2**53 - 1}
    assert chain.payload_problem(rfc8785.dumps(payload).decode()) is None
    assert chain.payload_problem('{"a":1.0}') == "its payload is not in canonical JSON form"
