"""Extracting an archive with the "data" filter's effect, also where Python lacks the filter."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from gatekeeper.provenance.extract import as_data, extract


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        entries = (
            ("apps", tarfile.DIRTYPE, 0o2777, b""),
            ("apps/run.sh", tarfile.REGTYPE, 0o4777, b"#!/bin/sh\n"),
            ("apps/web.yaml", tarfile.REGTYPE, 0o066, b"kind: ConfigMap\n"),
            ("apps/odd", tarfile.REGTYPE, 0o611, b"x"),
            ("apps/link.yaml", tarfile.SYMTYPE, 0o777, b""),
        )
        for name, kind, mode, data in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size, info.uid, info.gid = kind, mode, len(data), 0, 0
            info.uname = info.gname = "root"
            if kind == tarfile.SYMTYPE:
                info.linkname = "web.yaml"
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.lstat().st_mode)
        for path in sorted(root.rglob("*"))
        if not path.is_symlink()
    }


EXPECTED = {"apps": 0o755, "apps/odd": 0o600, "apps/run.sh": 0o755, "apps/web.yaml": 0o644}


def test_entries_get_the_data_filters_modes_and_no_owner() -> None:
    with tarfile.open(fileobj=io.BytesIO(_archive())) as tar:
        safe = {m.name: as_data(m) for m in tar.getmembers()}
    assert {n: m.mode for n, m in safe.items() if n in EXPECTED} == EXPECTED
    assert safe["apps/link.yaml"].linkname == "web.yaml"
    assert all(m.uname == "" and m.gname == "" for m in safe.values())


def test_by_hand_gives_what_the_filter_gives(tmp_path: Path) -> None:
    if not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no extraction filters to compare with")
    with_filter, by_hand = tmp_path / "filter", tmp_path / "hand"
    # The filter leaves a folder's mode to mkdir and the umask; by hand it is 0o755.
    umask = os.umask(0o022)
    try:
        with tarfile.open(fileobj=io.BytesIO(_archive())) as tar:
            extract(tar, with_filter, tar.getmembers())
    finally:
        os.umask(umask)
    with tarfile.open(fileobj=io.BytesIO(_archive())) as tar:
        tar.extractall(by_hand, members=[as_data(m) for m in tar.getmembers()], numeric_owner=True)
    assert _modes(with_filter) == _modes(by_hand) == EXPECTED
    assert (by_hand / "apps" / "link.yaml").read_text() == "kind: ConfigMap\n"


def test_anything_but_files_folders_and_links_is_refused() -> None:
    fifo = tarfile.TarInfo("apps/pipe")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(tarfile.TarError, match="neither a file"):
        as_data(fifo)
