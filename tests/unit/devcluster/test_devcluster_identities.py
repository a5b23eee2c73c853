"""The static token file kube-apiserver reads with --token-auth-file."""

from __future__ import annotations

import csv
import io
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.devcluster.identities import IDENTITIES, identity, new_tokens, token_file


def test_every_identity_gets_a_distinct_random_token() -> None:
    first, second = new_tokens(), new_tokens()

    assert set(first) == {"admin", "reconciler", "alice", "breakglass"}
    assert len(set(first.values())) == 4
    assert first != second


def test_token_file_lists_token_user_uid_and_groups() -> None:
    tokens = {"admin": "t-admin", "reconciler": "t-rec", "alice": "t-alice", "breakglass": "t-bg"}

    rows = list(csv.reader(io.StringIO(token_file(tokens))))

    assert rows == [
        ["t-admin", "admin", "gatekeeper-dev-admin", "system:masters"],
        ["t-rec", "reconciler", "gatekeeper-dev-reconciler"],
        ["t-alice", "alice", "gatekeeper-dev-alice", "gatekeeper:developers"],
        ["t-bg", "breakglass", "gatekeeper-dev-breakglass", "gatekeeper:break-glass"],
    ]


def test_break_glass_user_is_in_the_break_glass_group_of_the_default_settings() -> None:
    assert identity("breakglass").groups == ("gatekeeper:break-glass",)
    assert "system:masters" not in identity("alice").groups


def test_a_token_that_would_break_the_csv_is_refused() -> None:
    with pytest.raises(ValueError, match="CSV"):
        token_file({"admin": 'a,"b'})


def test_an_unknown_user_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="mallory"):
        identity("mallory")
    assert "mallory" not in IDENTITIES


@given(
    st.lists(
        st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64),
        min_size=4,
        max_size=4,
    )
)
def test_any_url_safe_tokens_survive_the_csv_round_trip(values: list[str]) -> None:
    tokens = dict(zip(IDENTITIES, values, strict=True))

    rows = list(csv.reader(io.StringIO(token_file(tokens))))

    assert {row[1]: row[0] for row in rows} == {
        IDENTITIES[n].username: t for n, t in tokens.items()
    }
