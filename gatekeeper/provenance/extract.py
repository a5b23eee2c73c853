"""Writing a `git archive` tar to disk with tarfile's "data" extraction filter, on every 3.11.

The filter came in Python 3.11.4; Debian bookworm's Python, the container image's, is 3.11.2,
where `extractall(filter=...)` is a `TypeError`. There the filter's effect on the entries its
callers let through (regular files and folders, and symbolic links they have already checked
to stay inside) is applied by hand: no set-user-id, set-group-id or sticky bit and no write
permission for group or others (folders 0o755, where the filter leaves them to the umask), files
readable and writable by their owner, nothing executable that its owner cannot execute, and no
owner or group taken from the archive.
"""

from __future__ import annotations

import copy
import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path


def extract(archive: tarfile.TarFile, dest: Path, members: Sequence[tarfile.TarInfo]) -> None:
    """Write `members` of `archive` under `dest`, as `extractall(..., filter="data")` does.
    The caller has refused anything but files, folders and symbolic links that stay inside."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, members=members, filter="data")
    else:
        safe = [as_data(member) for member in members]
        # The callers checked every path and link; as_data makes the modes and owners safe.
        archive.extractall(dest, members=safe, numeric_owner=True)  # noqa: S202


def as_data(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy of a file, folder or link entry with the "data" filter's modes and no owner."""
    if not (member.isfile() or member.isdir() or member.issym()):
        raise tarfile.TarError(f"{member.name}: neither a file, a folder nor a symbolic link")
    safe = copy.copy(member)
    # The extracting user's own ids: extractall changes owners only when run as root.
    safe.uid, safe.gid, safe.uname, safe.gname = os.getuid(), os.getgid(), "", ""
    if member.issym():
        return safe
    mode = member.mode & 0o777 & ~(stat.S_IWGRP | stat.S_IWOTH)
    if member.isfile():
        mode |= stat.S_IRUSR | stat.S_IWUSR
        if not mode & stat.S_IXUSR:
            mode &= ~(stat.S_IXGRP | stat.S_IXOTH)
    safe.mode = mode
    return safe
