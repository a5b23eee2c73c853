"""Filters are parsed once at the edge; cursors only continue the query they came from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.dashboard.errors import BadRequest
from gatekeeper.dashboard.filters import (
    Filters,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)


def test_dates_and_times_become_aware_utc_moments() -> None:
    filters = parse_filters({"since": "2026-11-01", "until": "2026-11-02T10:30:00+02:00"})
    assert filters.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert filters.until == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


def test_kinds_are_a_comma_separated_list() -> None:
    assert parse_filters({"kind": "sync.applied,rollback"}).kinds == ("rollback", "sync.applied")


def test_an_endpoint_names_the_filters_it_takes_when_given_another() -> None:
    with pytest.raises(BadRequest, match="unknown filter 'namespace'; this endpoint takes: since"):
        parse_filters({"namespace": "shop"}, allowed=("since", "until"))


def test_every_filter_is_stated_the_unset_ones_as_null() -> None:
    stated = parse_filters({"source": "apps", "since": "2026-11-01"}).as_json()
    assert stated["source"] == "apps"
    assert stated["since"] == "2026-11-01T00:00:00Z"
    assert stated["namespace"] is None and stated["kinds"] == []


def test_a_bad_value_is_refused_naming_the_parameter() -> None:
    with pytest.raises(BadRequest, match=r"^objectKind: "):
        parse_filters({"objectKind": " padded "})


@given(st.integers(0, 2**62), st.sampled_from(["apps", "infra", None]))
def test_a_cursor_continues_exactly_the_query_it_came_from(after: int, source: str | None) -> None:
    filters = Filters(source=source)
    assert decode_cursor(encode_cursor(after, filters), filters) == after
    other = Filters(source="elsewhere")
    with pytest.raises(BadRequest, match="cursor of another query"):
        decode_cursor(encode_cursor(after, filters), other)


@given(st.text(max_size=40))
def test_no_text_is_taken_for_a_cursor_unless_this_api_made_it(text: str) -> None:
    filters = Filters()
    try:
        after = decode_cursor(text, filters)
    except BadRequest:
        return
    assert after is not None and encode_cursor(after, filters).rstrip("=") == text.rstrip("=")


@pytest.mark.parametrize("text", ["0", "1001", "-1", "ten", "1.5"])
def test_a_limit_must_be_a_whole_number_in_range(text: str) -> None:
    with pytest.raises(BadRequest, match="limit must be a whole number from 1 to 1000"):
        parse_limit({"limit": text})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0.4, "0 s"),
        (59, "59 s"),
        (250, "4 min 10 s"),
        (37440, "10 h 24 min"),
        (266400, "3 d 2 h"),
        (3600, "1 h"),
    ],
)
def test_durations_read_in_two_units(seconds: float | None, text: str) -> None:
    from gatekeeper.dashboard.web.pages import _duration

    assert _duration(seconds) == text
