"""The PDF's font: found in the system's folders, or a clear error naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.report.errors import FontMissing
from gatekeeper.report.fonts import FONT_DIR_ENV, find_fonts


def test_a_folder_without_the_fonts_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(FontMissing, match="fonts-dejavu-core"):
        find_fonts(search=(tmp_path,))


def test_the_environment_overrides_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))
    assert find_fonts(search=()).regular == tmp_path / "DejaVuSans.ttf"
