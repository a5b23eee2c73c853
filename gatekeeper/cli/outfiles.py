"""The file a command writes (`report -o`, `audit bundle -o`): never one the configuration names.

Both commands write a temporary file beside the output and rename it over the output once it
is whole. A rename replaces whatever was there, so without this check one mistyped `-o` would
replace the audit database (the whole hash-chained log), the checkpoint signing key or a
witness file, and the command would notice only afterwards, if at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatekeeper.errors import ConfigError

if TYPE_CHECKING:
    from gatekeeper.settings import Settings

# Files SQLite keeps beside the database: the write-ahead log holds committed records, and
# the gatekeeper's writer lock serialises appends.
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal", "-writer-lock")


def check_output(
    output: Path,
    settings: Settings,
    *,
    config_file: Path | None,
    option: str = "-o",
    also: Iterable[Path] = (),
) -> None:
    """Refuse (`ConfigError`, exit 2) to write `output`, or the files written beside it
    (`also`, e.g. its signature), when one of them is a folder, is in a folder that does not
    exist, or is a file the configuration names, compared by real path and by inode."""
    protected = list(_protected_files(settings, config_file))
    folders = list(_protected_folders(settings))
    for path in (output, *also):
        _check_place(path, option)
        for key, named in protected:
            if _same_file(path, named):
                raise ConfigError(
                    f"{option} {path}: refusing to write over {named}, which the configuration "
                    f"names as {key}; choose another file"
                )
        for key, folder in folders:
            if _inside(path, folder):
                raise ConfigError(
                    f"{option} {path}: refusing to write inside {folder}, which the "
                    f"configuration names as {key}; choose another folder"
                )


def _check_place(path: Path, option: str) -> None:
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; name a file")
    parent = path.parent
    if not parent.exists():
        raise ConfigError(f"{option} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {parent} is not writable")


def _protected_files(settings: Settings, config_file: Path | None) -> Iterator[tuple[str, Path]]:
    """Every file the configuration names, with the key that names it."""
    from gatekeeper.audit.secret_digest import DEFAULT_NAME

    if config_file is not None:
        yield "--config", config_file
    database = settings.database.sqlite_file()
    if database is not None:
        yield "database.url", database
        for suffix in _SQLITE_SIDECARS:
            yield "database.url", database.with_name(database.name + suffix)
    if settings.audit.secret_digest_key_file is None:
        yield "audit.secretDigestKeyFile (its default)", settings.config_dir / DEFAULT_NAME
    for key, path in _paths(settings, ""):
        if not path.is_dir():
            yield key, path


def _protected_folders(settings: Settings) -> Iterator[tuple[str, Path]]:
    """Folders whose every file is evidence: the witness's checkpoints."""
    witness = settings.audit.witness
    if witness is None:
        return
    if witness.folder is not None:
        yield "audit.witness.folder", settings.resolve(witness.folder) or witness.folder
    if witness.git is not None:
        yield "audit.witness.git", settings.resolve(witness.git) or witness.git


def _paths(value: Any, key: str) -> Iterator[tuple[str, Path]]:
    """The paths in a settings tree, each with its dotted key as the file spells it."""
    from pydantic import BaseModel

    if isinstance(value, Path):
        yield key, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            if info.exclude:
                continue
            label = info.alias or name
            yield from _paths(getattr(value, name), f"{key}.{label}" if key else label)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _paths(item, f"{key}[{index}]")


def _same_file(path: Path, named: Path) -> bool:
    if os.path.realpath(path) == os.path.realpath(named):
        return True
    try:
        return os.path.samefile(path, named)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
