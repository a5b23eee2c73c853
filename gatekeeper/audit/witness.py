"""Witnesses: every checkpoint also kept outside the database, and read back for verification.

A witness entry is a small JSON document named `checkpoint-<id>-<seq>.json`, the same in a
folder, a Git repository and a ConfigMap. Entries are never overwritten: a second, different
checkpoint under a name already taken is refused, because it means the database's checkpoints
were deleted or rewritten (or two databases share one witness).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from gatekeeper.audit import chain
from gatekeeper.audit.errors import WitnessConflict, WitnessError, WitnessUnavailable
from gatekeeper.audit.store import Checkpoint

if TYPE_CHECKING:
    from gatekeeper.settings import Settings, WitnessSettings

ENTRY_TYPE = "gatekeeper.audit.checkpoint/v1"
CONFIG_MAP_PREFIX = "configmap:"
_ENTRY_NAME = re.compile(r"^checkpoint-(\d+)-(\d+)\.json$")
_FIELDS = ("id", "seq", "head", "time", "key_id", "signature")


def entry_name(checkpoint: Checkpoint) -> str:
    """`checkpoint-<id>-<seq>.json`, zero-padded so that names sort like checkpoints."""
    return f"checkpoint-{checkpoint.id:010d}-{checkpoint.seq:012d}.json"


def entry_document(checkpoint: Checkpoint) -> dict[str, Any]:
    """What an entry holds: the signed statement, the signature and the database's id."""
    return {
        "type": ENTRY_TYPE,
        "id": checkpoint.id,
        "seq": checkpoint.seq,
        "head": checkpoint.head_hash,
        "time": chain.format_time(checkpoint.time),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def entry_text(checkpoint: Checkpoint, *, compact: bool = False) -> str:
    """An entry as stored: indented in files (readable in a Git diff), one line in ConfigMaps."""
    document = entry_document(checkpoint)
    if compact:
        return json.dumps(document, sort_keys=True, separators=(",", ":"))
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def parse_entry(text: str, origin: str) -> Checkpoint:
    """An entry read back; `WitnessError` naming `origin` when it is not one."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise WitnessError(f"witness entry {origin} is not JSON") from exc
    if not isinstance(document, dict) or document.get("type") != ENTRY_TYPE:
        raise WitnessError(f"witness entry {origin} is not a {ENTRY_TYPE} document")
    missing = [name for name in _FIELDS if name not in document]
    if missing:
        raise WitnessError(f"witness entry {origin} lacks {', '.join(missing)}")
    try:
        checkpoint = Checkpoint(
            id=_integer(document["id"]),
            seq=_integer(document["seq"]),
            head_hash=_text(document["head"]),
            time=chain.parse_time(_text(document["time"])),
            key_id=_text(document["key_id"]),
            signature=_text(document["signature"]),
        )
    except (TypeError, ValueError) as exc:
        raise WitnessError(f"witness entry {origin} has a bad field: {exc}") from exc
    name = origin.rsplit("/", 1)[-1]
    match = _ENTRY_NAME.match(name)
    if match and (int(match[1]), int(match[2])) != (checkpoint.id, checkpoint.seq):
        raise WitnessError(
            f"witness entry {origin} holds checkpoint {checkpoint.id} at record "
            f"{checkpoint.seq}, not what its name says"
        )
    return checkpoint


def same_checkpoint(one: Checkpoint, other: Checkpoint) -> bool:
    """True when both are the same checkpoint: id, signed statement and signature."""
    return entry_document(one) == entry_document(other)


def is_entry_name(name: str) -> bool:
    return _ENTRY_NAME.match(name) is not None


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


@dataclass(frozen=True)
class WitnessCopy:
    """The checkpoints a witness holds, as read back, and where they were read."""

    location: str
    checkpoints: tuple[Checkpoint, ...]


def copy_of(location: str, entries: Iterable[tuple[str, str]]) -> WitnessCopy:
    """The checkpoints of (name, text) entries; names that are not entries are skipped."""
    found = [parse_entry(text, origin) for origin, text in entries if is_entry_name(_leaf(origin))]
    found.sort(key=lambda checkpoint: (checkpoint.id, checkpoint.seq))
    return WitnessCopy(location=location, checkpoints=tuple(found))


def _leaf(origin: str) -> str:
    return origin.rsplit("/", 1)[-1]


class WitnessReader(Protocol):
    """Where witnessed checkpoints are read from."""

    @property
    def location(self) -> str: ...

    def read(self) -> WitnessCopy: ...

    def close(self) -> None: ...


class Witness(WitnessReader, Protocol):
    """Where every checkpoint is also written when it is made."""

    def write(self, checkpoint: Checkpoint) -> None:
        """Keep `checkpoint`; nothing to do when it is kept already.

        `WitnessConflict` when it holds a different checkpoint under the same name,
        `WitnessUnavailable` when it cannot be written now, and `WitnessError` when it is no
        witness (a folder that is not a repository, a ConfigMap of something else).
        """
        ...


class FolderWitness:
    """A folder of entry files, each created whole (atomically) and never replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    def write(self, checkpoint: Checkpoint) -> None:
        target = self.path / entry_name(checkpoint)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            created = create_exclusive(target, entry_text(checkpoint))
        except OSError as exc:
            raise WitnessUnavailable(f"cannot write {target}: {exc.strerror or exc}") from exc
        if not created:
            try:
                kept = parse_entry(target.read_text(encoding="utf-8"), str(target))
            except OSError as exc:
                raise WitnessUnavailable(f"cannot read {target}: {exc.strerror}") from exc
            refuse_if_different(kept, checkpoint, str(target))

    def read(self) -> WitnessCopy:
        if not self.path.is_dir():
            raise WitnessError(f"witness folder {self.path} does not exist or is not a folder")
        try:
            entries = [
                (str(child), child.read_text(encoding="utf-8"))
                for child in sorted(self.path.iterdir())
                if is_entry_name(child.name) and child.is_file()
            ]
        except OSError as exc:
            raise WitnessUnavailable(f"cannot read witness folder {self.path}: {exc}") from exc
        return copy_of(self.location, entries)

    def close(self) -> None:
        """Nothing is held open."""


def refuse_if_different(kept: Checkpoint, new: Checkpoint, where: str) -> None:
    """Nothing when `kept` is `new` (a retry); `WitnessConflict` when it is another checkpoint."""
    if same_checkpoint(kept, new):
        return
    raise WitnessConflict(
        f"the witness already holds a different checkpoint {kept.id} (record {kept.seq}) at "
        f"{where}, not the database's new one (record {new.seq}): the database's checkpoints "
        "were deleted or rewritten, or two databases share this witness; run "
        "`gatekeeper audit verify --witness`"
    )


def create_exclusive(target: Path, text: str) -> bool:
    """Write `text` as `target` in one step, unless `target` exists: False then.

    The text goes to a hidden temporary file first, is flushed to disk, and is then linked
    under its name, which fails when the name is taken: readers never see half an entry, and
    no entry is ever replaced.
    """
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
    finally:
        os.unlink(temporary)
    _sync_folder(target.parent)
    return True


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class ExportedConfigMaps:
    """A ConfigMap witness exported with `kubectl get configmaps ... -o json` (or yaml)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> WitnessCopy:
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise WitnessError(f"cannot read {self.path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise WitnessError(f"{self.path} is neither JSON nor YAML") from exc
        if not isinstance(document, dict):
            raise WitnessError(f"{self.path} is not a ConfigMap or a List of them")
        items = document.get("items") if document.get("kind") != "ConfigMap" else [document]
        if not isinstance(items, list):
            raise WitnessError(f"{self.path} is not a ConfigMap or a List of them")
        return copy_of(self.location, config_map_entries(items))

    def close(self) -> None:
        """Nothing is held open."""


def config_map_entries(items: Iterable[Any]) -> list[tuple[str, str]]:
    """(namespace/name/key, value) of every witness key in the ConfigMaps given."""
    entries: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("kind", "ConfigMap") != "ConfigMap":
            continue
        metadata = item.get("metadata") or {}
        where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
        for key, value in (item.get("data") or {}).items():
            if is_entry_name(str(key)):
                entries.append((f"{where}/{key}", str(value)))
    return entries


def witness_from_settings(settings: Settings) -> Witness | None:
    """The witness `audit.witness` configures, or None."""
    configured = settings.audit.witness
    if configured is None:
        return None
    return _configured(configured, settings)


def _configured(configured: WitnessSettings, settings: Settings) -> Witness:
    if configured.folder is not None:
        return FolderWitness(settings.resolve(configured.folder) or configured.folder)
    if configured.git is not None:
        from gatekeeper.audit.witness_git import GitWitness

        return GitWitness(settings.resolve(configured.git) or configured.git)
    if configured.config_map is None:
        raise WitnessError("audit.witness names no folder, git repository or ConfigMap")
    from gatekeeper.audit.witness_configmap import ConfigMapWitness

    return ConfigMapWitness.from_settings(configured.config_map, settings)


def open_witness(location: str, settings: Settings) -> WitnessReader:
    """The witness `audit verify --witness` names: a folder (a Git checkout is one), a file
    exported from a ConfigMap witness, or `configmap:NAMESPACE/NAME` read through the API."""
    if location.startswith(CONFIG_MAP_PREFIX):
        from gatekeeper.audit.witness_configmap import ConfigMapWitness

        return ConfigMapWitness.from_settings(location.removeprefix(CONFIG_MAP_PREFIX), settings)
    path = Path(location)
    if path.is_dir():
        return FolderWitness(path)
    if path.is_file():
        return ExportedConfigMaps(path)
    raise WitnessError(
        f"witness {location} is neither a folder, an exported ConfigMap file, "
        f"nor {CONFIG_MAP_PREFIX}NAMESPACE/NAME"
    )
