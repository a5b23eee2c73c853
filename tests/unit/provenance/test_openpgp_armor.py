"""Armored OpenPGP signatures decoded here give Sequoia the signature its own reader gives."""

from __future__ import annotations

import base64

import pysequoia
import pytest

from gatekeeper.provenance.openpgp import dearmor_signature
from tests.fixtures.signing import InProcessPgpKey


def _variants(armored: bytes) -> dict[str, bytes]:
    lines = armored.rstrip(b"\n").split(b"\n")
    no_checksum = [line for line in lines if not (len(line) == 5 and line.startswith(b"="))]
    with_headers = [lines[0], b"Comment: made for a test", b"Hash: SHA512", *lines[1:]]
    return {
        "as written": armored,
        "no trailing newline": armored.rstrip(b"\n"),
        "no checksum": b"\n".join(no_checksum) + b"\n",
        "bad checksum": b"\n".join([*lines[:-2], b"=AAAA", lines[-1]]) + b"\n",
        "headers": b"\n".join(with_headers) + b"\n",
    }


@pytest.mark.parametrize(
    "case", ["as written", "no trailing newline", "no checksum", "bad checksum", "headers"]
)
def test_the_decoded_packets_are_the_signature_sequoia_reads_from_the_armor(
    pgp_key: InProcessPgpKey, case: str
) -> None:
    armored = _variants(pgp_key.sign(b"payload\n"))[case]
    packets = dearmor_signature(armored)
    assert packets is not None
    assert bytes(pysequoia.Sig.from_bytes(packets)) == bytes(pysequoia.Sig.from_bytes(armored))


def test_other_shapes_are_left_to_sequoia(pgp_key: InProcessPgpKey) -> None:
    armored = pgp_key.sign(b"payload\n")
    body = armored.split(b"\n\n", 1)[1]
    for other in (
        b"  " + armored,  # leading blanks
        armored.replace(b"\n", b"\r\n"),
        armored.replace(b"PGP SIGNATURE", b"PGP MESSAGE"),
        armored.replace(b"\n\n", b"\nnot a header\n\n", 1),
        armored.replace(b"\n\n", b"\n", 1),  # no empty line after the BEGIN line
        b"-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n",
        b"-----BEGIN PGP SIGNATURE-----\n\n"
        + base64.b64encode(b"plain text, not a packet")
        + b"\n-----END PGP SIGNATURE-----\n",
        body,
    ):
        assert dearmor_signature(other) is None, other[:40]
