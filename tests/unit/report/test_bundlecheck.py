"""Reading bundled records: the payload text that is hashed is the payload a parser sees."""

from __future__ import annotations

import json

from gatekeeper.report.bundlecheck import _payload_text

TAIL = b'"prev_hash":"' + b"0" * 64 + b'","hash":"' + b"1" * 64 + b'"'


def test_the_stored_text_is_taken_as_it_is_from_a_line_laid_out_by_the_writer() -> None:
    line = b'{"seq":1,"payload":{"b":[1,2],"a":"\xc3\xbc"},' + TAIL + b"}"
    assert _payload_text(line, json.loads(line)["payload"]) == '{"b":[1,2],"a":"ü"}'


def test_a_second_payload_member_after_the_hashes_is_what_gets_hashed() -> None:
    # A parser keeps the last member: hashing the first one would vouch for text no one reads.
    line = b'{"seq":1,"payload":{"a":1},' + TAIL + b',"payload":{"a":true}}'
    assert _payload_text(line, json.loads(line)["payload"]) == '{"a":true}'


def test_any_other_layout_is_serialised_canonically() -> None:
    line = b'{"payload": {"b": 1, "a": 2}, "seq": 1}'
    assert _payload_text(line, json.loads(line)["payload"]) == '{"a":2,"b":1}'
