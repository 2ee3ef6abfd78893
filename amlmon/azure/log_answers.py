"""The query API's answer as Python: tables, typed columns decoded, the error's text and position.

`datetime` cells become aware datetimes (unless kept as text), `timespan` and `guid` text, `dynamic`
cells (JSON text on the wire) JSON values where `query` prints rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amlmon.errors import QueryError, RejectedQuery


@dataclass
class Table:
    name: str
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


@dataclass
class QueryResult:
    tables: list[Table]
    partial_error: str | None = None  # set when the service returned part of the result

    @property
    def primary(self) -> Table:
        return self.tables[0] if self.tables else Table("PrimaryResult", [], [], [])


def error_position(error: Any) -> tuple[int | None, int | None, str | None]:
    """(line, pos, token) of the innermost error that has them."""
    found: tuple[int | None, int | None, str | None] = (None, None, None)
    inner = _get(error, "innererror")
    while inner is not None:
        line, pos = _get(inner, "line"), _get(inner, "pos")
        if isinstance(line, int) and isinstance(pos, int):
            token = _get(inner, "token")
            found = (line, pos, token if isinstance(token, str) else None)
        inner = _get(inner, "innererror")
    return found


def parse_datetime(value: Any) -> Any:
    """The service's ISO 8601 text as an aware datetime (C-speed; 7 fractional digits are fine)."""
    if not isinstance(value, str):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # as the SDK does: a value that is not a date is handed back as it came


def decode_table(raw: dict[str, Any], *, parse_datetimes: bool = True) -> Table:
    columns = [str(column.get("name")) for column in raw.get("columns") or []]
    types = [str(column.get("type") or "") for column in raw.get("columns") or []]
    rows: list[list[Any]] = raw.get("rows") or []
    for index, kind in enumerate(types):
        if kind == "datetime" and parse_datetimes:
            for row in rows:
                row[index] = parse_datetime(row[index])
        elif kind in ("timespan", "guid"):
            for row in rows:
                row[index] = None if row[index] is None else str(row[index])
    return Table(str(raw.get("name") or "PrimaryResult"), columns, types, rows)


def error_text(error: Any) -> str:
    """One line: the service's code, message and, for syntax errors, the position."""
    code = _get(error, "code")
    message = _get(error, "message") or str(error)
    details = _get(error, "details") or []
    inner = _get(error, "innererror")
    position = ""
    while inner is not None:
        line, pos = _get(inner, "line"), _get(inner, "pos")
        if line is not None:
            position = f" (line {line}, position {pos})"
        message = _get(inner, "message") or message
        code = _get(inner, "code") or code
        inner = _get(inner, "innererror")
    if details and not position:
        # A partial result's reason (e.g. the record-count limit) is in details[].innererror.message;
        # the outer messages only say that something went wrong.
        message = _detail_reason(details) or message
    return f"{code}: {message}{position}" if code else f"{message}{position}"


def _detail_reason(details: list[Any]) -> str | None:
    """The innermost message of each detail, joined (the service may give several reasons)."""
    reasons: list[str] = []
    for detail in details:
        message, inner = _get(detail, "message"), _get(detail, "innererror")
        while inner is not None:
            message = _get(inner, "message") or message
            inner = _get(inner, "innererror")
        if isinstance(message, str) and message and message not in reasons:
            reasons.append(message)
    return "; ".join(reasons) or None


def _get(obj: Any, key: str) -> Any:
    """A key of a JSON error object; None for anything else (error bodies nest unevenly)."""
    return obj.get(key) if isinstance(obj, dict) else None


def row_decoder(table: Table) -> Callable[[list[Any]], dict[str, Any]]:
    """One raw row → an object: `timespan`/`guid` as text, `dynamic` JSON text as JSON values."""
    import contextlib
    import json

    columns, types = table.columns, table.types
    dynamic = [i for i, kind in enumerate(types) if kind == "dynamic"]
    textual = [i for i, kind in enumerate(types) if kind in ("timespan", "guid")]

    def decode(raw: list[Any]) -> dict[str, Any]:
        row = list(raw)
        for i in textual:
            row[i] = None if row[i] is None else str(row[i])
        for i in dynamic:
            value = row[i]
            if isinstance(value, str) and value[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    row[i] = json.loads(value)
        return dict(zip(columns, row, strict=False))

    return decode


def records(table: Table) -> list[dict[str, Any]]:
    """Rows as objects, decoded as `row_decoder` does."""
    decode = row_decoder(table)
    return [decode(raw) for raw in table.rows]


def with_excerpt(exc: RejectedQuery, text: str) -> QueryError:
    """The service's error plus the offending line of `text` with a caret under the position it names."""
    message = exc.message
    lines = text.splitlines()
    if exc.line is not None and exc.pos is not None and 1 <= exc.line <= len(lines):
        line = lines[exc.line - 1].replace("\t", " ")
        pos = min(max(exc.pos, 0), len(line))
        start = max(0, pos - 60)  # keep a long line readable around the error
        shown = line[start : pos + 60]
        message += f"\n  {shown}\n  {' ' * (pos - start)}^"
    return QueryError(message, hint=exc.hint)
