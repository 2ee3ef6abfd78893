"""The generic table: a list of objects becomes rows, one object becomes key/value pairs."""

from __future__ import annotations

import json
from typing import IO, Any

from amlmon.render.console import make_console


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


def render_table(data: Any, stream: IO[str], *, no_color: bool = False, title: str | None = None) -> None:
    from rich import box
    from rich.table import Table

    console = make_console(stream, no_color=no_color)
    table = Table(box=box.SIMPLE_HEAD, title=title, show_edge=False, pad_edge=False)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns = _columns(data)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in data:
            table.add_row(*(_cell(row.get(column)) for column in columns))
    elif isinstance(data, dict):
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key, value in _flatten(data):
            table.add_row(key, _cell(value))
    elif isinstance(data, list):
        table.add_column("value", overflow="fold")
        for item in data:
            table.add_row(_cell(item))
    else:
        console.print(_cell(data), markup=False)
        return
    if not data:
        return
    if console.is_terminal:
        console.print(table)
        return
    # Piped: no padding at line ends, so the text diffs and greps cleanly.
    with console.capture() as captured:
        console.print(table)
    stream.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    stream.flush()
