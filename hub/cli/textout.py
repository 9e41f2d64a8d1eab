"""Tables for a person that survive narrow terminals and pipes (80 columns, rich's width
when output is not a terminal).

Contract of :func:`print_table`:

- a value of a ``fixed`` column (ids, codes, numbers) is never cut nor wrapped;
- a ``wrap`` column may wrap between words, never below ``min_width`` characters (or its
  widest value when narrower), never cutting a word;
- when the table does not fit the console's width, the ``optional`` columns are left out;
  when it still does not fit, each row is printed as a block instead: its first value
  alone on a line, then one indented ``header: value`` line per other column, wrapped at
  the width (words never cut). Lines holding a fixed value are never wrapped: a value
  wider than the console stays whole (the terminal folds it, a pipe keeps it).

:func:`print_command` prints a command to copy on its own line, never wrapped.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

Cell = str | Text


@dataclass(frozen=True)
class Col:
    """One column: ``wrap`` columns may wrap (down to ``min_width``), others never;
    ``optional`` ones are dropped first when the table is too wide."""

    header: str
    wrap: bool = False
    min_width: int = 12
    optional: bool = False
    justify: Literal["left", "right"] = "left"


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _text(cell: Cell) -> Text:
    """A cell as rich Text: a str is taken literally (no markup: names may hold ``[``)."""
    return cell if isinstance(cell, Text) else Text(cell)


def _widths(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Content width of each column so that the boxed table fits ``width``, or None."""
    natural = [
        max([len(c.header), *(Text(_plain(r[i])).cell_len for r in rows)])
        for i, c in enumerate(cols)
    ]
    room = width - (3 * len(cols) + 1)  # borders and one space of padding on each side
    longest_word = [
        max([0, *(Text(w).cell_len for r in rows for w in _plain(r[i]).split())])
        for i in range(len(cols))
    ]
    lowest = [
        max(min(n, c.min_width), word) if c.wrap else n
        for n, c, word in zip(natural, cols, longest_word, strict=True)
    ]
    if sum(lowest) > room:
        return None
    spare = room - sum(lowest)
    wanted = [n - low for n, low in zip(natural, lowest, strict=True)]
    if sum(wanted) <= spare:
        return natural
    out = []
    for low, want in zip(lowest, wanted, strict=True):
        share = want * spare // sum(wanted)
        out.append(low + share)
    return out


def print_table(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | None = None,
) -> None:
    """Print ``rows`` as a table fitting ``console.width`` (module docstring)."""
    for shown in (list(cols), [c for c in cols if not c.optional]):
        keep = [cols.index(c) for c in shown]
        kept_rows = [[r[i] for i in keep] for r in rows]
        widths = _widths(shown, kept_rows, console.width)
        if widths is None:
            continue
        table = Table(
            *(
                Column(c.header, width=w, justify=c.justify, no_wrap=not c.wrap, overflow="fold")
                for c, w in zip(shown, widths, strict=True)
            ),
            title=title,
        )
        for r in kept_rows:
            table.add_row(*(_text(c) for c in r))
        console.print(table)
        return
    _print_blocks(console, cols, rows, title)


def _print_blocks(
    console: Console, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], title: str | None
) -> None:
    if title:
        console.print(Text(title, style="italic"), soft_wrap=True, highlight=False)
    label = max(len(c.header) for c in cols[1:]) if len(cols) > 1 else 0
    for row in rows:
        console.print(_text(row[0]), soft_wrap=True, highlight=False)
        for col, cell in zip(cols[1:], row[1:], strict=True):
            head = f"  {col.header + ':':<{label + 1}} "
            if not col.wrap:
                console.print(Text(head) + _text(cell), soft_wrap=True, highlight=False)
                continue
            lines = textwrap.wrap(
                _plain(cell),
                width=max(console.width - len(head), 20),
                break_long_words=False,
                break_on_hyphens=False,
            ) or [""]
            for n, line in enumerate(lines):
                lead = head if n == 0 else " " * len(head)
                console.print(Text(lead + line), soft_wrap=True, highlight=False)


def print_command(console: Console, intro: str, command: str) -> None:
    """``intro`` then, on its own line and never wrapped, ``command`` (indented, bold on a
    terminal) so that a person can copy it whole."""
    console.print(intro, highlight=False)
    console.print(Text("  ") + Text(command, style="bold"), soft_wrap=True, highlight=False)
