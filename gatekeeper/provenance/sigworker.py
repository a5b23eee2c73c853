"""The signature worker's side of `sigpool`: the process that checks batches it is sent.

Run as `python -m gatekeeper.provenance.sigworker` by `SignaturePool`. It reads the keyring's
OpenPGP and SSH keys (`PortableKeys`), says it is ready, then answers each batch of
`(format, payload, signature, time)` with the verdicts of `Keyring.verify_parts`, in order,
until its input ends. Frames are a 4-byte big-endian length and a pickle.

Kept apart from `sigpool` so that starting a worker imports only what checking needs: the
pool's threads, subprocess and logging machinery and the X.509 checker stay out of it (about
150 ms of CPU per start, which the range being checked would otherwise pay for).
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import IO, Any

READY = "ready"
LENGTH = struct.Struct(">I")


def frame(value: object) -> bytes:
    """`value` as one frame: its pickle, after the pickle's length."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(data)) + data


def write_frame(stream: IO[bytes], value: object) -> None:
    stream.write(frame(value))
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next value on `stream`, or EOFError when it ends (between or inside a frame)."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        raise EOFError
    (length,) = LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    # The peer is the pool in the process that started this one, never an outside party.
    return pickle.loads(data)  # noqa: S301


def serve(stdin: IO[bytes], stdout: IO[bytes], check: Callable[..., Any]) -> None:
    """Answer batches from `stdin` with verdicts on `stdout` until `stdin` ends."""
    write_frame(stdout, READY)
    while True:
        try:
            number, jobs = read_frame(stdin)
        except EOFError:
            return
        write_frame(stdout, (number, [check(*job) for job in jobs]))


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: the process that started this
    # one handles it, and this one ends when its input does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from gatekeeper.provenance.signatures import PortableKeys

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        keys = read_frame(stdin)
    except EOFError:
        return 0
    if not isinstance(keys, PortableKeys):
        return 2
    serve(stdin, stdout, keys.keyring().verify_parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
