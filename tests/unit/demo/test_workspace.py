"""The demo's folder: made fresh, cleaned when it is the demo's own, refused otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.demo import workspace
from gatekeeper.errors import ConfigError


def test_a_new_folder_is_created_and_marked_as_the_demos(tmp_path: Path) -> None:
    folder = workspace.prepare(tmp_path / "new")

    assert folder.is_dir()
    assert [p.name for p in folder.iterdir()] == [workspace.MARKER]


def test_a_folder_left_by_an_earlier_run_is_emptied(tmp_path: Path) -> None:
    folder = workspace.prepare(tmp_path / "demo")
    (folder / "repo").mkdir()
    (folder / "gatekeeper.db").write_text("old")

    again = workspace.prepare(folder)

    assert sorted(p.name for p in again.iterdir()) == [workspace.MARKER]


def test_a_non_empty_folder_the_demo_did_not_make_is_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(ConfigError, match="not made by `gatekeeper demo`"):
        workspace.prepare(tmp_path)

    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_empty_existing_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert (workspace.prepare(tmp_path / "empty") / workspace.MARKER).is_file()
