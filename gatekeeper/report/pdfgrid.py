"""A plain grid of wrapped text cells for fpdf2, drawn line by line.

fpdf2's `table()` lays every cell out twice through its general line breaker, about 10 ms a
row: 200 rows in each of seven sections took 15 s. A report's rows need only greedy wrapping
at spaces (or anywhere in a long token such as a hash) with one font per column, so this
measures characters once each and draws each line with `text()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF


@dataclass(frozen=True)
class Column:
    """A column: its title, width (mm) and font (family, style, size in points); the titles
    share the grid's heading font."""

    title: str
    width: float
    family: str
    size: float
    style: str = ""


class Grid:
    """Rows of wrapped cells with borders; the header row repeats after each page break."""

    def __init__(
        self,
        document: FPDF,
        columns: Sequence[Column],
        *,
        line_height: float,
        printable: Callable[[str], str],
        heading_font: tuple[str, str, float],
    ) -> None:
        self._document = document
        self._columns = tuple(columns)
        self._line = line_height
        self._printable = printable
        self._heading_font = heading_font
        self._widths: dict[tuple[str, str, float], dict[str, float]] = {}
        self._padding = 0.8

    def draw(self, rows: Sequence[Sequence[str]]) -> None:
        self._row([column.title for column in self._columns], heading=True)
        for row in rows:
            self._row(row, heading=False)

    def _row(self, cells: Sequence[str], *, heading: bool) -> None:
        document = self._document
        wrapped = [
            self._wrap(self._printable(text), column, heading)
            for text, column in zip(cells, self._columns, strict=True)
        ]
        height = max(len(lines) for lines in wrapped) * self._line + self._padding
        if document.get_y() + height > document.page_break_trigger:
            document.add_page()
            if not heading:
                self._row([column.title for column in self._columns], heading=True)
        x, y = document.l_margin, document.get_y()
        for lines, column in zip(wrapped, self._columns, strict=True):
            self._font(column, heading)
            document.rect(x, y, column.width, height)
            for number, line in enumerate(lines):
                document.text(
                    x + self._padding, y + self._line * (number + 0.78) + self._padding / 2, line
                )
            x += column.width
        document.set_xy(document.l_margin, y + height)

    def _font(self, column: Column, heading: bool) -> tuple[str, str, float]:
        font = self._heading_font if heading else (column.family, column.style, column.size)
        self._document.set_font(font[0], style=font[1], size=font[2])
        return font

    def _wrap(self, text: str, column: Column, heading: bool) -> list[str]:
        font = self._font(column, heading)
        widths = self._widths.setdefault(font, {})
        room = column.width - 2 * self._padding
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line, width = "", 0.0
            for word in paragraph.split(" "):
                word_width = sum(self._width(widths, char) for char in word)
                space = self._width(widths, " ") if line else 0.0
                if line and width + space + word_width <= room:
                    line, width = f"{line} {word}", width + space + word_width
                    continue
                if line:
                    lines.append(line)
                line, width = "", 0.0
                for char in word:  # a token wider than the cell breaks anywhere
                    char_width = self._width(widths, char)
                    if line and width + char_width > room:
                        lines.append(line)
                        line, width = "", 0.0
                    line, width = line + char, width + char_width
            lines.append(line)
        return lines

    def _width(self, cache: dict[str, float], char: str) -> float:
        found = cache.get(char)
        if found is None:
            found = cache[char] = self._document.get_string_width(char)
        return found
