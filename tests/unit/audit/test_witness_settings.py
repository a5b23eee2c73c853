"""`audit.witness` in the configuration: exactly one kind, checked names, absolute paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatekeeper.audit.witness import FolderWitness, witness_from_settings
from gatekeeper.audit.witness_git import GitWitness
from gatekeeper.errors import ConfigError
from gatekeeper.settings import load_settings


def write(tmp_path: Path, witness: str) -> Path:
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(f"audit:\n  witness: {witness}\n", encoding="utf-8")
    return path


def test_no_witness_is_configured_by_default() -> None:
    assert load_settings(None).audit.witness is None
    assert witness_from_settings(load_settings(None)) is None


def test_a_relative_folder_is_resolved_against_the_config_files_folder(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "{folder: witness}"))
    assert settings.audit.witness is not None
    assert settings.audit.witness.folder == tmp_path / "witness"
    witness = witness_from_settings(settings)
    assert isinstance(witness, FolderWitness) and witness.path == tmp_path / "witness"


def test_a_relative_git_repository_is_resolved_the_same_way(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "{git: ../witness.git}"))
    witness = witness_from_settings(settings)
    assert isinstance(witness, GitWitness) and witness.path == tmp_path / "../witness.git"


def test_a_config_map_is_named_by_namespace_and_name(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "{configMap: gatekeeper-system/audit-witness}"))
    assert settings.audit.witness is not None
    assert settings.audit.witness.config_map == "gatekeeper-system/audit-witness"


@pytest.mark.parametrize(
    ("witness", "complaint"),
    [
        ("{}", "audit.witness: Value error, set exactly one of folder, git or configMap"),
        ("{folder: a, git: b}", "set exactly one of folder, git or configMap"),
        ("{folder: a, bucket: b}", "audit.witness.bucket: unknown key"),
        ("{configMap: witness}", "audit.witness.configMap: Value error, 'witness' is not"),
        ("{configMap: ns/Witness}", "is not 'namespace/name'"),
        ("{configMap: ns/a.b}", "is not 'namespace/name'"),
    ],
)
def test_a_witness_that_is_not_exactly_one_valid_kind_is_refused(
    tmp_path: Path, witness: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        load_settings(write(tmp_path, witness))


def test_the_environment_can_set_the_witness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT__WITNESS__GIT", "repo")
    settings = load_settings(None)
    assert settings.audit.witness is not None
    assert settings.audit.witness.git == Path("repo")
