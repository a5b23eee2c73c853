"""The Unicode font embedded in PDF reports: DejaVu Sans, from the system's font folders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.report.errors import FontMissing

# Set to a folder holding DejaVuSans.ttf, DejaVuSans-Bold.ttf and DejaVuSansMono.ttf.
FONT_DIR_ENV = "GATEKEEPER_REPORT_FONT_DIR"
# Where Debian's fonts-dejavu-core and other distributions put them.
SEARCH_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/local/share/fonts"),
    Path("/usr/share/fonts/truetype"),
)
_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf"}


@dataclass(frozen=True)
class FontFiles:
    """The three faces a PDF report uses."""

    regular: Path
    bold: Path
    mono: Path


def find_fonts(directory: Path | None = None, *, search: Sequence[Path] = SEARCH_DIRS) -> FontFiles:
    """The DejaVu faces from `directory`, else `$GATEKEEPER_REPORT_FONT_DIR`, else the first
    standard folder that holds all of them."""
    from_environment = os.environ.get(FONT_DIR_ENV)
    override = directory or (Path(from_environment) if from_environment else None)
    candidates = [override] if override is not None else list(search)
    for folder in candidates:
        paths = {face: folder / name for face, name in _FILES.items()}
        if all(path.is_file() for path in paths.values()):
            return FontFiles(**paths)
    where = str(override) if override is not None else ", ".join(str(d) for d in search)
    raise FontMissing(
        f"PDF reports embed the DejaVu Sans font ({', '.join(_FILES.values())}), not found in "
        f"{where}: install the Debian package fonts-dejavu-core, or set {FONT_DIR_ENV} to a "
        "folder that holds these files"
    )
