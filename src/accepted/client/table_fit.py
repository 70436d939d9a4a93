"""Tables for people, fitted to the terminal: shared by `accepted jobs` and
`accepted schedules`.

On a terminal (or with COLUMNS set) a table wider than the screen is fitted
instead of wrapped: columns go whole, in the table's own drop order, until the
rest fit with their free text at its narrowest; then the widest free text is cut
a character at a time, with an ellipsis, until the table fits. A column with no
minimum width of its own (an id, a time) is never cut, only dropped; a table
whose kept columns are wider than the screen even so is printed as it is, and
the terminal wraps it. Into a pipe (no width) nothing is fitted.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Column", "cut", "fitted", "print_table", "screen_width"]

GAP = 2  # spaces between two columns


@dataclass
class Column:
    header: str
    cells: list[str]
    numeric: bool = False  # right-justified

    @property
    def width(self) -> int:
        return max(len(cell) for cell in [self.header, *self.cells])

    def cut_to(self, width: int) -> None:
        self.cells = [cut(cell, width) for cell in self.cells]


def screen_width() -> int | None:
    """COLUMNS, else the terminal's width; None into a pipe (nothing to fit)."""
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    return columns or None


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def fitted(
    columns: Sequence[Column],
    width: int,
    drop_order: Collection[str],
    min_width: Mapping[str, int],
) -> list[Column]:
    """`columns` fitted to `width`: drop columns (`drop_order`, first to go first)
    until the rest fit at their narrowest (`min_width`: how narrow cutting may make
    a free-text column, ellipsis included), then cut the widest free text."""
    kept = list(columns)
    for name in drop_order:
        if _total(kept, min_width, narrowest=True) <= width:
            break
        kept = [column for column in kept if column.header != name]
    while _total(kept, min_width) > width:
        cuttable = [c for c in kept if c.width > _narrowest(c, min_width)]
        if not cuttable:
            break  # what is left is wider than the screen: the terminal wraps it
        widest = max(cuttable, key=lambda c: c.width)
        widest.cut_to(widest.width - 1)
    return kept


def print_table(out: TextIO, columns: Sequence[Column]) -> None:
    """The header line, then one line a row; no trailing blanks."""
    for i in range(len(columns[0].cells) + 1):
        cells = []
        for column in columns:
            cell = column.header if i == 0 else column.cells[i - 1]
            justify = cell.rjust if column.numeric else cell.ljust
            cells.append(justify(column.width))
        out.write((" " * GAP).join(cells).rstrip() + "\n")


def _narrowest(column: Column, min_width: Mapping[str, int]) -> int:
    return min(column.width, min_width.get(column.header, column.width))


def _total(
    columns: Sequence[Column], min_width: Mapping[str, int], *, narrowest: bool = False
) -> int:
    widths = [_narrowest(c, min_width) if narrowest else c.width for c in columns]
    return sum(widths) + GAP * (len(columns) - 1)
