"""Output formats shared by every command: table, json, jsonc, jsonl, tsv, yaml, none; plus --query.

Commands hand over plain data (dicts, lists, scalars); this layer turns it into text. A command with a
richer terminal view (e.g. stats) passes its own `table` renderer, used only for `-o table`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import IO, Any

from amlmon.errors import UsageError

FORMATS = ("table", "json", "jsonc", "jsonl", "tsv", "yaml", "none")
TableRenderer = Callable[[Any, IO[str]], None]


def default_format(stream: IO[str] | None = None) -> str:
    """Tables for people at a terminal, JSON for pipes and files."""
    stream = stream or sys.stdout
    return "table" if stream.isatty() else "json"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def jsonable(data: Any) -> Any:
    """Plain JSON types only (datetimes as ISO 8601 with Z), so every format sees the same values.

    NaN and ±Infinity become the strings "NaN", "Infinity", "-Infinity", as Kusto writes them: the
    bare words json.dumps would print are not JSON."""
    return json.loads(json.dumps(data, default=_default), parse_constant=str)


def apply_query(data: Any, expression: str | None) -> Any:
    if not expression:
        return data
    import jmespath
    from jmespath.exceptions import JMESPathError, JMESPathTypeError

    try:
        return jmespath.search(expression, data)
    except JMESPathTypeError as exc:
        # The expression compiled (check_query): a function met a value of the wrong type in this result.
        # jmespath's message carries the whole offending value — a result's worth of text on one line.
        expected = " or ".join(str(kind) for kind in exc.expected_types)
        raise UsageError(
            f"--query {expression!r} failed on the result: {exc.function_name}() expects {expected}, "
            f"got {exc.actual_type}",
            hint='see https://jmespath.org; e.g. --query "sort_by(@, &target)[].target"',
        ) from None
    except JMESPathError as exc:
        raise _invalid_query(expression, exc) from None


def _invalid_query(expression: str, exc: Exception) -> UsageError:
    """One `error:` line: jmespath's message repeats the expression with a caret on lines of their own."""
    detail = str(exc).split("\n", 1)[0].removeprefix("Invalid jmespath expression: ")
    detail = detail.removesuffix(":").removesuffix(", for expression").strip() or "not valid"
    return UsageError(
        f"--query {expression!r} is not a valid JMESPath expression: {detail}",
        hint="see https://jmespath.org; e.g. --query \"[?state=='Healthy'].name\"",
    )


def check_query(expression: str | None) -> None:
    """A --query that cannot compile is refused before any call to Azure (exit 2)."""
    if not expression:
        return
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        raise _invalid_query(expression, exc) from None


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_jsonl(data: Any) -> str:
    items: Iterable[Any] = data if isinstance(data, list) else [data]
    return "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items)


def _tsv_cell(value: Any) -> str:
    """One field: strings unquoted, objects and lists as compact JSON, null empty, booleans
    True/False (as az prints them); a backslash, tab or line break in the text is written as \\\\,
    \\t, \\n, \\r (other control characters \\xNN), so a field never spills into the next one or the next line."""
    from amlmon.render.text import tsv_field

    if value is None:
        text = ""
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return tsv_field(text)


def _tsv_columns(rows: list[Any]) -> list[str] | None:
    """The keys of a list of objects in first-seen order (None when the rows are not all objects): a
    key missing from one row is an empty field there, so the columns never shift."""
    if not rows or not all(isinstance(row, dict) for row in rows):
        return None
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def to_tsv(data: Any) -> str:
    """No header; one line per row, every column, in the order of the first row that has it; a row that
    is a list (a JMESPath multiselect list) has its items as the fields."""
    rows = data if isinstance(data, list) else [data]
    columns = _tsv_columns(rows)
    lines = []
    for row in rows:
        if columns is not None:
            values = [row.get(column) for column in columns]
        elif isinstance(row, dict):
            values = list(row.values())
        else:  # `--query "[].[name, kind]"`: each inner list is a row of fields, as `az -o tsv` prints it
            values = row if isinstance(row, list) else [row]
        lines.append("\t".join(_tsv_cell(value) for value in values))
    return "".join(line + "\n" for line in lines)


def to_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False))


def emit(
    data: Any,
    *,
    output: str | None,
    query: str | None = None,
    table: TableRenderer | None = None,
    stream: IO[str] | None = None,
    no_color: bool = False,
    tsv: Callable[[Any], Any] | None = None,
) -> None:
    """Render `data` in the chosen format onto `stream` (stdout by default); `tsv` reshapes a nested
    result into flat rows for -o tsv (without --query, like `table`)."""
    stream = stream or sys.stdout
    fmt = output or default_format(stream)
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    data = apply_query(jsonable(data), query)
    if fmt == "none":
        return
    if fmt == "table":
        from amlmon.render.table import render_table

        if table is not None and not query:
            table(data, stream)
        else:
            render_table(data, stream, no_color=no_color)
        return
    if fmt == "jsonc":
        from amlmon.render.console import make_console

        console = make_console(stream, no_color=no_color)
        if console.is_terminal and not console.no_color:
            console.print_json(json.dumps(data), indent=2)
            return
        fmt = "json"
    if fmt == "tsv" and tsv is not None and not query:
        data = tsv(data)
    text = {"json": lambda d: to_json(d) + "\n", "jsonl": to_jsonl, "tsv": to_tsv, "yaml": to_yaml}[fmt](data)
    stream.write(text)
    stream.flush()
