"""`AuditStore.prepare`: its one-walk path stores and hashes exactly what the general path does.

The general path redacts Secrets and sensitive paths, canonicalises the result and decodes it
again; prepare takes a single copying walk instead when the payload is plain JSON without a
Secret. Both must give the same canonical text, the same payload object (same keys in the
same order) and the same chain hash, and the stored payload must share nothing with the
caller's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from gatekeeper.audit import chain
from gatekeeper.audit.errors import AuditError
from gatekeeper.audit.events import GENESIS_HASH, NewEvent
from gatekeeper.audit.redact import LAST_APPLIED, redact
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.audit.store import AuditStore, PreparedEvent
from gatekeeper.canonical import NotCanonicalisable, NotSimple, plain_copy

DIGESTER = SecretDigester(b"an installation's key, 32+ bytes")
SENSITIVE = ("object.password", "items.*.token", "list.1")

keys = st.text(max_size=5) | st.sampled_from(
    ["kind", "data", "object", "items", "token", "password", "\U0001f600", "\ue000", "é", ""]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["Secret", "v1", "\ud800"]),  # a lone surrogate cannot be stored
)


def secrets(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"kind": st.just("Secret")},
        optional={
            "apiVersion": st.sampled_from(["v1", "apps/v1"]),
            "data": st.dictionaries(keys, children, max_size=3),
            "stringData": st.dictionaries(keys, children, max_size=3),
            "metadata": st.fixed_dictionaries(
                {"annotations": st.fixed_dictionaries({LAST_APPLIED: st.text(max_size=8)})}
            ),
        },
    )


values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=4),
        secrets(children),
    ),
    max_leaves=20,
)
payloads = st.dictionaries(keys, values, max_size=5)


@pytest.fixture(scope="module")
def store() -> Iterator[AuditStore]:
    audit = AuditStore(
        create_engine("sqlite://"),
        sensitive_fields=SENSITIVE,
        secret_digester=DIGESTER,
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),  # one time in every hash
    )
    yield audit
    audit.close()


def reference(payload: dict[str, Any]) -> tuple[str, Any]:
    """What prepare stored before the one-walk path: redact, canonicalise, decode."""
    redacted = redact(payload, SENSITIVE, digester=DIGESTER)
    text = chain.canonical_payload(redacted)
    return text, json.loads(text)


def sealed_hash(store: AuditStore, prepared: PreparedEvent) -> str:
    _, (record,) = store._seal([prepared], 41, GENESIS_HASH)
    return record.hash


def nodes(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from nodes(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from nodes(item)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_prepare_stores_and_hashes_what_the_general_path_does(
    store: AuditStore, payload: dict[str, Any]
) -> None:
    event = NewEvent(kind="admission.allowed", actor="u", subject="ns/v1/Pod/p", payload=payload)
    try:
        expected_text, expected_payload = reference(payload)
    except NotCanonicalisable:
        with pytest.raises(AuditError, match="event payload refused"):
            store.prepare(event)
        return
    except AuditError:  # a lone surrogate in Secret data: both paths refuse it alike
        with pytest.raises(AuditError, match="not valid Unicode text"):
            store.prepare(event)
        return
    prepared = store.prepare(event)
    assert prepared.payload_json == expected_text
    assert prepared.payload == expected_payload
    # The same keys in the same order as the stored text decodes to.
    assert json.dumps(prepared.payload) == json.dumps(expected_payload)
    slow = PreparedEvent(**{**prepared.__dict__, "payload_json": expected_text})
    assert sealed_hash(store, prepared) == sealed_hash(store, slow)
    # Nothing of the caller's payload is shared with what was stored.
    mutable = {id(node) for node in nodes(payload) if isinstance(node, dict | list)}
    assert not any(id(node) in mutable for node in nodes(prepared.payload))


def test_a_secret_deep_in_a_plain_payload_is_still_redacted(store: AuditStore) -> None:
    payload = {"review": {"items": [{"kind": "Secret", "data": {"password": "aHVudGVyMg=="}}]}}
    prepared = store.prepare(NewEvent(kind="admission.allowed", actor="u", payload=payload))
    assert "aHVudGVyMg==" not in prepared.payload_json
    stored = prepared.payload["review"]["items"][0]["data"]["password"]
    assert stored == DIGESTER.digest("aHVudGVyMg==")


def test_a_sensitive_path_in_a_plain_payload_is_still_redacted(store: AuditStore) -> None:
    payload = {"object": {"password": "hunter2", "user": "a"}}
    prepared = store.prepare(NewEvent(kind="admission.allowed", actor="u", payload=payload))
    assert "hunter2" not in prepared.payload_json
    assert prepared.payload["object"] == {"password": DIGESTER.digest("hunter2"), "user": "a"}
    assert payload["object"]["password"] == "hunter2"  # the caller's payload is left alone


def test_the_stored_payload_does_not_follow_later_changes_to_the_callers(
    store: AuditStore,
) -> None:
    payload: dict[str, Any] = {"groups": ["a"], "policies": {"version": "v1"}}
    prepared = store.prepare(NewEvent(kind="admission.allowed", actor="u", payload=payload))
    payload["groups"].append("b")
    payload["policies"]["version"] = "v2"
    assert prepared.payload == json.loads(prepared.payload_json)
    assert prepared.payload == {"groups": ["a"], "policies": {"version": "v1"}}


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        2**53,
        -(2**53),
        {1: "a"},
        {"a": 1, 2: "b"},
        {"\U0001f600": 1},
        b"bytes",
        {"a"},
        [object()],
    ],
)
def test_plain_copy_refuses_what_the_fast_encoder_cannot_take(value: Any) -> None:
    with pytest.raises(NotSimple):
        plain_copy({"x": [value]}, ("kind", "Secret"))


def test_plain_copy_refuses_nesting_too_deep_to_copy() -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = [value]
    with pytest.raises(NotSimple):
        plain_copy(value, ("kind", "Secret"))


def test_a_payload_nested_too_deeply_is_refused_as_before(store: AuditStore) -> None:
    value: Any = "leaf"
    for _ in range(5000):
        value = {"a": value}
    with pytest.raises(RecursionError):
        reference({"x": value})
    with pytest.raises(RecursionError):
        store.prepare(NewEvent(kind="admission.allowed", actor="u", payload={"x": value}))


@pytest.mark.parametrize("field", ["actor", "subject", "source", "commit"])
def test_a_nul_character_in_a_text_field_is_refused(store: AuditStore, field: str) -> None:
    """PostgreSQL text cannot hold NUL; refused alike on both engines, before any batch."""
    fields: dict[str, Any] = {"actor": "alice", field: "evil\x00"}
    event = NewEvent(kind="admission.allowed", **fields)
    with pytest.raises(AuditError, match=f"event {field} holds a NUL character"):
        store.prepare(event)


def test_a_nul_character_in_a_kind_is_refused(store: AuditStore) -> None:
    with pytest.raises(AuditError, match="not a dotted lower-case name"):
        store.prepare(NewEvent(kind="sync.applied\x00", actor="alice"))
