"""The generic table: a list of objects becomes rows, one object becomes key/value pairs."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import IO, Any

from amlmon.render.console import make_console
from amlmon.render.text import visible


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects as dotted keys (appInsights.id), so a key/value table stays two readable columns."""
    pairs: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs.extend(_flatten(value, name + "."))
        else:
            pairs.append((name, value))
    return pairs


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


# Column gap of rich's SIMPLE_HEAD table without edge padding: padding, the (blank) divider, padding.
_GAP = 3
_MIN_WIDTH = 4  # a cut column keeps at least three characters and the ellipsis


def fit_widths(natural: list[int], available: int) -> list[int]:
    """Column widths that fit `available` cells, like `kubectl get`: the widest columns give up width
    first (all are cut to one level, the rest of the room goes to them one cell each), never below
    _MIN_WIDTH; narrow columns keep their full width. When even that does not fit, the minimums."""
    if sum(natural) <= available:
        return list(natural)
    level = max(natural)
    while level > _MIN_WIDTH and sum(min(w, level) for w in natural) > available:
        level -= 1
    widths = [min(w, level) for w in natural]
    spare = available - sum(widths)
    for index, width in enumerate(natural):
        if spare <= 0:
            break
        if width > level:
            widths[index] += 1
            spare -= 1
    return widths


def fit_keeping(natural: list[int], available: int, keep: set[int]) -> list[int]:
    """fit_widths where the `keep` columns (names) are never cut: the others give up width first; when
    even their minimums leave the kept ones too little room, those get what is left (at least
    _MIN_WIDTH, shared out) and fold their text over several lines instead of cutting it."""
    others = [index for index in range(len(natural)) if index not in keep]
    fixed = sum(natural[index] for index in keep)
    fitted = fit_widths([natural[index] for index in others], max(available - fixed, 0))
    widths = list(natural)
    for index, width in zip(others, fitted, strict=True):
        widths[index] = width
    room = available - sum(fitted)
    if keep and room < fixed:
        share = max(room // len(keep), _MIN_WIDTH)
        for index in keep:
            widths[index] = min(natural[index], share)
    return widths


def ellipsize(text: str, width: int) -> str:
    """`text` in at most `width` cells: cut with an ellipsis, never wrapped."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)) + "…"


def _one_line(text: str) -> str:
    # A line break inside a cell would wrap the row; the table shows it as a space. Every other control
    # character is made visible: it would reach the terminal, and rich counts it as no width.
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    return visible(text.replace("\t", " "))


def _grid(data: Any) -> tuple[list[str], list[list[str]], bool] | None:
    """(headers, rows of cell texts, key/value?) for data a table can show; None for a scalar."""
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns = _columns(data)
        return columns, [[_cell(row.get(column)) for column in columns] for row in data], False
    if isinstance(data, dict):
        return ["field", "value"], [[key, _cell(value)] for key, value in _flatten(data)], True
    if isinstance(data, list):
        return ["value"], [[_cell(item)] for item in data], False
    return None


def render_table(
    data: Any,
    stream: IO[str],
    *,
    no_color: bool = False,
    title: str | None = None,
    keep: Collection[str] = (),
    rule: bool = True,
) -> None:
    """A table whose rows are one line each: on a terminal, cells are cut with an ellipsis to its width
    (widest columns first); piped, every cell is whole, however long the line.

    The `keep` columns (names, e.g. `target`) are never cut: two names cut to the same prefix would be
    told apart by nothing. The other columns shrink for them; on a terminal too narrow even for that, a
    kept cell folds onto further lines. `rule` False: no line under the header, columns two apart."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    console = make_console(stream, no_color=no_color)
    grid = _grid(data)
    if grid is None:
        console.print(visible(_cell(data), "\n\t"), markup=False)
        return
    if not data:
        return
    headers, rows = [_one_line(h) for h in grid[0]], [[_one_line(cell) for cell in row] for row in grid[1]]
    natural = [max([cell_len(h)] + [cell_len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    gaps = (_GAP if rule else _GAP - 1) * (len(headers) - 1)  # without a box, rich draws no blank divider
    terminal = bool(getattr(stream, "isatty", lambda: False)())  # colour or not: a terminal's width binds
    kept = {index for index, header in enumerate(grid[0]) if header in keep}
    if terminal:
        widths = fit_keeping(natural, max(console.width - gaps, 0), kept)
    else:
        widths = natural
        console = make_console(stream, no_color=no_color, width=max(sum(natural) + gaps, 1))
    table = Table(box=box.SIMPLE_HEAD if rule else None, title=title, show_edge=False, pad_edge=False)
    for index, (header, width) in enumerate(zip(headers, widths, strict=True)):
        style = "bold" if grid[2] and index == 0 else ""
        if index in kept:  # whole, folded onto more lines when the column is narrower than the text
            table.add_column(header, style=style, no_wrap=False, overflow="fold", width=width)
        else:
            table.add_column(ellipsize(header, width), style=style, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(
            *(
                cell if index in kept else ellipsize(cell, width)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    if terminal:
        console.print(table, crop=False)
        return
    # Piped: no padding at line ends, so the text diffs and greps cleanly.
    with console.capture() as captured:
        console.print(table, crop=False)
    stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    stream.flush()
