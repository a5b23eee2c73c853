"""Splitting raw commit and tag objects into signed payload and signature, as git does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.provenance.objects import (
    _IDENT_TIME,
    ObjectFormatError,
    _split_ident,
    parse_commit,
    parse_tag,
)
from gatekeeper.provenance.verdicts import SignatureFormat

HEAD = (
    b"tree 1111111111111111111111111111111111111111\n"
    b"parent 2222222222222222222222222222222222222222\n"
    b"parent 3333333333333333333333333333333333333333\n"
    b"author A <a@example.com> 1700000000 +0100\n"
    b"committer C <c@example.com> 1700000100 +0100\n"
)
MERGETAG = b"mergetag object 4444\n type commit\n tag v1\n \n -----BEGIN PGP SIGNATURE-----\n x\n"
SIG = b"gpgsig -----BEGIN SSH SIGNATURE-----\n AAAA\n -----END SSH SIGNATURE-----\n"


def test_the_payload_is_the_commit_without_its_gpgsig_header() -> None:
    raw = HEAD + SIG + b"\nmessage\n\nbody\n"
    commit = parse_commit("ab" * 20, raw)
    assert commit.payload == HEAD + b"\nmessage\n\nbody\n"
    assert commit.signature == b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
    assert commit.format is SignatureFormat.SSH
    assert commit.parents == ("2" * 40, "3" * 40)
    assert commit.time == datetime.fromtimestamp(1700000100, UTC)
    assert commit.identity == "C <c@example.com>"
    assert commit.author == "A <a@example.com>"


def test_other_multi_line_headers_stay_in_the_payload_with_their_continuations() -> None:
    raw = HEAD + MERGETAG + SIG + b"\nmerge\n"
    commit = parse_commit("ab" * 20, raw)
    assert commit.payload == HEAD + MERGETAG + b"\nmerge\n"


def test_a_sha256_signature_header_is_neither_payload_nor_signature() -> None:
    other = b"gpgsig-sha256 -----BEGIN PGP SIGNATURE-----\n zzz\n -----END PGP SIGNATURE-----\n"
    commit = parse_commit("ab" * 20, HEAD + other + b"\nm\n")
    assert commit.signature is None
    assert commit.payload == HEAD + b"\nm\n"


def test_an_unsigned_commit_has_no_signature_and_its_payload_is_the_object() -> None:
    raw = HEAD + b"\nm\n"
    commit = parse_commit("ab" * 20, raw)
    assert commit.signature is None and commit.format is None
    assert commit.payload == raw


def test_a_commit_without_committer_is_refused() -> None:
    with pytest.raises(ObjectFormatError):
        parse_commit("ab" * 20, b"tree 1111\n\nm\n")


def test_an_author_time_out_of_range_is_refused_even_when_the_committer_time_is_fine() -> None:
    raw = HEAD.replace(b"1700000000 +0100", b"99999999999999999999 +0100") + b"\nm\n"
    with pytest.raises(ObjectFormatError, match="out of range"):
        parse_commit("ab" * 20, raw)


# Identity lines near the shapes git writes: pieces joined by spaces, digits, signs, odd bytes.
_PIECES = st.sampled_from([b"A", b"<a@b>", b"1700000000", b"-5", b"+0100", b"-0000", b"+01", b""])
_LINES = st.one_of(
    st.lists(_PIECES, max_size=6).map(b" ".join),
    st.binary(max_size=40),
    st.tuples(st.binary(max_size=12), st.binary(max_size=6)).map(
        lambda parts: parts[0] + b" 12 +0000" + parts[1]
    ),
)


@given(_LINES)
def test_identity_lines_split_as_the_regular_expression_splits_them(line: bytes) -> None:
    match = _IDENT_TIME.match(line)
    if match is None:
        with pytest.raises(ObjectFormatError, match="malformed identity line"):
            _split_ident(line)
    else:
        assert _split_ident(line) == (match.group("ident"), match.group("seconds"))


def test_a_tag_signature_is_the_last_armored_block_of_its_message() -> None:
    head = (
        b"object "
        + b"5" * 40
        + b"\ntype commit\ntag v1\ntagger T <t@example.com> 1700000000 +0000\n"
    )
    message = b"\nrelease\n-----BEGIN PGP SIGNATURE----- quoted in text\n"
    signature = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    tag = parse_tag("cd" * 20, head + message + signature)
    assert tag.payload == head + message
    assert tag.signature == signature
    assert tag.target == "5" * 40
    assert tag.format is SignatureFormat.OPENPGP
    assert tag.author is None


def test_an_unsigned_tag_has_its_whole_object_as_payload() -> None:
    raw = b"object " + b"5" * 40 + b"\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\nnote\n"
    tag = parse_tag("cd" * 20, raw)
    assert tag.signature is None
    assert tag.payload == raw
