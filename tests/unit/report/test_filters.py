"""Report filters: parsed once from loose input, refused when inconsistent, stated in full."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gatekeeper.report.errors import FilterError
from gatekeeper.report.filters import ReportFilters


def test_dates_and_times_become_aware_utc() -> None:
    filters = ReportFilters.parse(since="2026-11-01", until="2026-11-02T12:30:00+01:00")
    assert filters.since == datetime(2026, 11, 1, tzinfo=UTC)
    assert filters.until == datetime(2026, 11, 2, 11, 30, tzinfo=UTC)
    assert ReportFilters.parse(since=date(2026, 11, 1)).since == filters.since


def test_kinds_come_as_a_list_or_a_comma_separated_string_and_are_deduplicated() -> None:
    assert ReportFilters.parse(kinds="rollback, breakglass,rollback").kinds == (
        "breakglass",
        "rollback",
    )
    assert ReportFilters.parse(kinds=["sync.applied"]).kinds == ("sync.applied",)


def test_empty_strings_mean_no_filter() -> None:
    assert ReportFilters.parse(source="", actor="", since="") == ReportFilters()


@pytest.mark.parametrize(
    ("given", "option"),
    [
        ({"since": "yesterday"}, "--since"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "--until"),
        ({"since": "2026-11-01", "until": "2026-11-01"}, "--until"),
        ({"kinds": "Sync Applied"}, "--kind"),
        ({"commit": "abc123"}, "--commit"),
        ({"source": " apps"}, "--source"),
        ({"object_kind": " "}, "--object-kind"),
        # Valid ISO 8601, but with no UTC time Python can hold.
        ({"since": "0001-01-01T00:00:00+01:00"}, "--since"),
        ({"until": "9999-12-31T23:59:59-01:00"}, "--until"),
    ],
)
def test_bad_filters_are_refused_naming_their_option(given: dict[str, str], option: str) -> None:
    with pytest.raises(FilterError) as caught:
        ReportFilters.parse(**given)  # type: ignore[arg-type]
    assert caught.value.option == option


def test_a_naive_time_is_refused_by_the_constructor() -> None:
    with pytest.raises(FilterError, match="aware"):
        ReportFilters(since=datetime(2026, 11, 1))


def test_a_full_commit_sha_is_lower_cased() -> None:
    assert ReportFilters.parse(commit="A" * 40).commit == "a" * 40


def test_every_filter_is_stated_even_when_unset() -> None:
    filters = ReportFilters.parse(since="2026-11-01", source="apps", kinds="rollback")
    assert filters.as_json() == {
        "since": "2026-11-01T00:00:00Z",
        "until": None,
        "source": "apps",
        "namespace": None,
        "kinds": ["rollback"],
        "object_kind": None,
        "actor": None,
        "commit": None,
    }
    lines = filters.describe()
    assert lines[0].startswith("Period: 2026-11-01T00:00:00Z (inclusive) to the time of")
    assert "Source: apps" in lines and "Namespace: all" in lines
    assert filters.command_options() == [
        "--since",
        "2026-11-01T00:00:00Z",
        "--source",
        "apps",
        "--kind",
        "rollback",
    ]
