"""A small ASN.1 BER/DER reader: just enough to take a CMS SignedData apart.

CMS signatures from gpgsm use BER's indefinite lengths on their outer layers, so those are
read too; everything that is hashed or signed (certificates, signed attributes) is kept as the
exact bytes it arrived in, never re-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

# Universal tags used here (class and constructed bits included where they apply).
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31
_CONSTRUCTED = 0x20
_MAX_DEPTH = 32


class DerError(ValueError):
    """The bytes are not the ASN.1 structure that was expected."""


@dataclass(slots=True)  # not frozen: building one is then cheaper, and none is changed
class Node:
    """One TLV: its tag byte, its whole encoding, and its content octets."""

    tag: int
    raw: bytes
    content: bytes
    indefinite: bool = False

    @property
    def constructed(self) -> bool:
        return bool(self.tag & _CONSTRUCTED)

    def children(self) -> list[Node]:
        if not self.constructed:
            raise DerError(f"tag 0x{self.tag:02x} is not constructed")
        return read_all(self.content)

    def expect(self, tag: int, what: str) -> Node:
        if self.tag != tag:
            raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self


def _length(data: bytes, offset: int) -> tuple[int | None, int]:
    if offset >= len(data):
        raise DerError("truncated length")
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    if first == 0x80:
        return None, offset
    count = first & 0x7F
    if count > 4 or offset + count > len(data):
        raise DerError("unsupported or truncated length")
    return int.from_bytes(data[offset : offset + count], "big"), offset + count


def read(data: bytes, offset: int = 0, depth: int = 0) -> tuple[Node, int]:
    """The node starting at `offset`, and the offset just after it."""
    if depth > _MAX_DEPTH:
        raise DerError("nested too deeply")
    start = offset
    if offset >= len(data):
        raise DerError("truncated tag")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used by CMS")
    length, offset = _length(data, offset + 1)
    if length is not None:
        end = offset + length
        if end > len(data):
            raise DerError("truncated value")
        return Node(tag, data[start:end], data[offset:end]), end
    if not tag & _CONSTRUCTED:
        raise DerError("an indefinite length on a primitive value")
    # Indefinite length: children up to the end-of-contents octets 00 00.
    cursor = offset
    while True:
        if data[cursor : cursor + 2] == b"\x00\x00":
            content = data[offset:cursor]
            return Node(tag, data[start : cursor + 2], content, indefinite=True), cursor + 2
        _child, cursor = read(data, cursor, depth + 1)


def read_all(data: bytes) -> list[Node]:
    """Every node of a concatenation (the content of a constructed node)."""
    nodes: list[Node] = []
    offset = 0
    while offset < len(data):
        node, offset = read(data, offset)
        nodes.append(node)
    return nodes


def read_one(data: bytes) -> Node:
    """Exactly one node filling `data`."""
    node, end = read(data)
    if end != len(data):
        raise DerError("trailing bytes after the structure")
    return node


def oid(node: Node) -> str:
    """The dotted form of an OBJECT IDENTIFIER."""
    return _decode_oid(node.expect(OID, "object identifier").content)


@lru_cache(maxsize=256)
def _decode_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise DerError("malformed object identifier")
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def integer(node: Node) -> int:
    value = node.expect(INTEGER, "integer").content
    if not value:
        raise DerError("empty integer")
    return int.from_bytes(value, "big", signed=True)


def octets(node: Node) -> bytes:
    """An OCTET STRING's value (a constructed BER one is joined)."""
    if node.tag == OCTET_STRING:
        return node.content
    if node.tag == OCTET_STRING | _CONSTRUCTED:
        return b"".join(octets(child) for child in node.children())
    raise DerError(f"expected an octet string, found tag 0x{node.tag:02x}")


def time(node: Node) -> datetime:
    """A UTCTime or GeneralizedTime in UTC (as CMS' signing-time attribute carries it)."""
    text = node.content.decode("ascii", "replace")
    if node.tag == UTC_TIME and len(text) == 13:
        # RFC 5280: two-digit years 50-99 are 19xx, 00-49 are 20xx.
        text = ("19" if text[:2] >= "50" else "20") + text
    elif node.tag != GENERALIZED_TIME:
        raise DerError(f"expected a time, found tag 0x{node.tag:02x}")
    if len(text) != 15 or not text[:14].isdigit() or text[14] != "Z":
        raise DerError(f"malformed time {text!r} (UTC, whole seconds expected)")
    month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(4, 14, 2))
    try:
        return datetime(int(text[:4]), month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise DerError(f"malformed time {text!r}") from exc


@lru_cache(maxsize=64)
def encode_oid(dotted: str) -> bytes:
    """The content octets of an OBJECT IDENTIFIER, to compare with a node's content."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def is_oid(node: Node, dotted: str) -> bool:
    """Whether `node` is the OBJECT IDENTIFIER `dotted` (without decoding it)."""
    return node.tag == OID and node.content == encode_oid(dotted)
