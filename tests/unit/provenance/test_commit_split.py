"""The fast commit split against the line-by-line one that follows git, on generated objects."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.provenance.errors import RepositoryError
from gatekeeper.provenance.objects import ObjectFormatError, parse_commit, split_signed_commit
from gatekeeper.provenance.repository import _batch_stream

_SHA = "ab" * 20
_VALUE = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"_"))
# Header lines, each as written (continuation lines start with a space).
_LINE = st.one_of(
    st.builds(lambda v: b"parent " + v.hex().encode(), st.binary(min_size=20, max_size=20)),
    st.just(b"author A <a@example.com> 1600000000 +0100"),
    st.builds(lambda v: b"encoding " + v, _VALUE),
    st.builds(lambda v: b"mergetag " + v, _VALUE),
    st.builds(lambda v: b"gpgsig " + v, _VALUE),
    st.builds(lambda v: b"gpgsig-sha256 " + v, _VALUE),
    st.sampled_from([b"gpgsig", b"gpgsig-sha256", b"gpgsigx y", b"parent", b"x-header v"]),
    st.builds(lambda v: b" " + v, _VALUE),
    st.just(b" "),
)
_COMMITTER = b"committer C <c@example.com> 1700000000 +0000"


@st.composite
def commits(draw: st.DrawFn) -> bytes:
    lines = [b"tree " + b"1" * 40, *draw(st.lists(_LINE, max_size=12))]
    lines.insert(draw(st.integers(1, len(lines))), _COMMITTER)
    message = draw(st.binary(max_size=60))
    return b"\n".join(lines) + b"\n\n" + message


@settings(max_examples=400)
@given(commits())
def test_the_fast_split_gives_what_the_line_by_line_split_gives(raw: bytes) -> None:
    headers = raw.partition(b"\n\n")[0].split(b"\n")
    if sum(line.startswith(b"author ") for line in headers) > 1:
        with pytest.raises(ObjectFormatError, match="more than one author header"):
            parse_commit(_SHA, raw)
        return
    commit = parse_commit(_SHA, raw)
    assert (commit.payload, commit.signature) == split_signed_commit(raw)


@given(commits(), st.binary(max_size=40))
def test_lines_after_the_headers_are_payload_even_when_they_look_like_headers(
    raw: bytes, tail: bytes
) -> None:
    body = b"\ngpgsig -----BEGIN PGP SIGNATURE-----\n x\nparent " + tail
    payload, signature = split_signed_commit(raw + body)
    assert payload.endswith(body)
    assert signature == split_signed_commit(raw)[1]


def test_any_other_gpgsig_header_is_dropped_with_its_continuation_lines_as_in_git() -> None:
    for header in (b"gpgsig", b"gpgsig-sha256 a", b"gpgsigx c"):
        raw = b"tree 1\n" + header + b"\n b\n" + _COMMITTER + b"\n\nm\n"
        commit = parse_commit(_SHA, raw)
        assert commit.payload == b"tree 1\n" + _COMMITTER + b"\n\nm\n"
        assert commit.signature is None


def test_a_second_committer_header_is_refused() -> None:
    raw = b"tree 1\n" + _COMMITTER + b"\ncommitter M <m@example.com> 1 +0000\n\nm"
    with pytest.raises(ObjectFormatError, match="more than one committer header"):
        parse_commit(_SHA, raw)


def test_two_signature_headers_make_one_signature() -> None:
    raw = b"tree 1\ngpgsig a\n b\n" + _COMMITTER + b"\ngpgsig c\n\nm"
    commit = parse_commit(_SHA, raw)
    assert commit.signature == b"a\nb\nc\n"
    assert commit.payload == b"tree 1\n" + _COMMITTER + b"\n\nm"


def test_an_identity_time_out_of_range_is_a_format_error() -> None:
    raw = b"tree 1\ncommitter C <c@e> 99999999999999999999 +0000\n\nm\n"
    with pytest.raises(ObjectFormatError):
        parse_commit(_SHA, raw)


class _Trickle(io.RawIOBase):
    """A pipe that hands out a few bytes at a time."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def _batch(objects: list[tuple[str, bytes]]) -> bytes:
    return b"".join(f"{sha} commit {len(raw)}\n".encode() + raw + b"\n" for sha, raw in objects)


@settings(max_examples=50)
@given(
    st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    st.integers(1, 64),
)
def test_the_batch_reader_splits_objects_wherever_the_pipe_cuts_them(
    bodies: list[bytes], step: int
) -> None:
    objects = [(f"{i:040x}", body) for i, body in enumerate(bodies)]
    stream = io.BufferedReader(_Trickle(_batch(objects), step), buffer_size=16)
    assert [(sha, raw) for sha, _kind, raw in _batch_stream(stream)] == objects


def test_the_batch_reader_reads_an_object_larger_than_its_chunks() -> None:
    big = bytes(range(256)) * 1500  # several reads' worth
    objects = [("a" * 40, b"small"), ("b" * 40, big), ("c" * 40, b"")]
    stream = io.BufferedReader(_Trickle(_batch(objects), 4096), buffer_size=4096)
    assert [(sha, raw) for sha, _kind, raw in _batch_stream(stream)] == objects


def test_the_batch_reader_refuses_a_missing_object_and_a_cut_off_one() -> None:
    missing = io.BufferedReader(io.BytesIO(b"abc missing\n"))
    with pytest.raises(RepositoryError, match="abc is missing"):
        list(_batch_stream(missing))
    cut = io.BufferedReader(io.BytesIO(_batch([("a" * 40, b"0123456789")])[:-4]))
    with pytest.raises(RepositoryError, match="middle of an object"):
        list(_batch_stream(cut))
