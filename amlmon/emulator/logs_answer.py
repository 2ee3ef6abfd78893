"""How the Log Analytics query API words its answers: KQL column types and cells, the table body, a
partial result's error, and the SyntaxError / SemanticError bodies with line and position."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb

from amlmon.emulator.http import Response, json_response
from amlmon.emulator.store import HIDDEN_COLUMNS


def error(status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"message": message, "code": code, "correlationId": str(uuid.uuid4())}}
    if inner:
        body["error"]["innererror"] = inner
    return json_response(status, body)


@dataclass(frozen=True)
class Limits:
    """What one answer may hold before the service cuts it (the query API's 500,000 rows / 64 MB)."""

    rows: int
    size: int


def syntax_error(query: str, exc: Exception) -> Response:
    diagnostics = getattr(exc, "diagnostics", None) or []
    line, pos = 1, 0
    if diagnostics:
        span = diagnostics[0].span
        line, pos = int(span.line), int(span.column)
    source_line = (
        query.splitlines()[line - 1] if query.splitlines() and line - 1 < len(query.splitlines()) else ""
    )
    token_match = re.match(r"\S+", source_line[pos:]) if pos < len(source_line) else None
    token = token_match.group(0) if token_match else "<EOF>"
    return error(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        {
            "code": "SyntaxError",
            "message": "A recognition error occurred in the query.",
            "innererror": {
                "code": "SYN0002",
                "message": f"Query could not be parsed at '{token}' on line [{line},{pos}]",
                "line": line,
                "pos": pos,
                "token": token,
            },
        },
    )


# The engine's words for a name it cannot bind → which kind of name it is in Kusto's terms.
_UNKNOWN_SCALAR = re.compile(
    r'Referenced column "([^"]+)" not found|Column "([^"]+)" referenced|Alias with name "([^"]+)"'
    r'|column "?([^"\s]+)"? (?:does not exist|not found)'
)
_UNKNOWN_TABLE = re.compile(r'Table with name "?([^"\s!]+)"? does not exist')


def _operator_of(query: str, name: str) -> str | None:
    """The KQL operator (`where`, `project` …) of the first pipe stage naming `name` outside string
    literals; for a table, the operator that reads it (the next stage)."""
    from amlmon.emulator.store import code_spans

    code = "".join(text if is_code else " " * len(text) for is_code, text in code_spans(query))
    stages = [stage.strip() for stage in code.split("|")]
    word = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
    for index, stage in enumerate(stages):
        if word.search(stage):
            operator = stage.split(None, 1)[0] if stage else ""
            if index == 0 and operator == name:  # a table: the next stage reads it
                return stages[1].split(None, 1)[0] if len(stages) > 1 and stages[1] else None
            return operator or None
    return None


def _semantic_message(query: str, exc: Exception) -> str:
    """Kusto's SEM0100 text for a name that does not resolve; never the SQL engine's own words."""
    text = str(exc)
    table = _UNKNOWN_TABLE.search(text)
    scalar = None if table else _UNKNOWN_SCALAR.search(text)
    found = table or scalar
    if found is None:
        if isinstance(exc, duckdb.Error):
            return "The query could not be evaluated (a construct the emulator's engine does not run)."
        return text.split("\n", 1)[0]  # duckdb-kql's own message: about the KQL, not about SQL
    name = next(group for group in found.groups() if group)
    kind = "table or column expression" if table else "scalar expression"
    operator = _operator_of(query, name)
    prefix = f"'{operator}' operator: " if operator else ""
    return f"{prefix}Failed to resolve {kind} named '{name}'"


def semantic_error(query: str, exc: Exception) -> Response:
    return error(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        {
            "code": "SemanticError",
            "message": "A semantic error occurred.",
            "innererror": {"code": "SEM0100", "message": _semantic_message(query, exc)},
        },
    )


_KQL_TYPES = {
    "VARCHAR": "string",
    "BOOLEAN": "bool",
    "BIGINT": "long",
    "HUGEINT": "long",
    "INTEGER": "int",
    "SMALLINT": "int",
    "TINYINT": "int",
    "UBIGINT": "long",
    "UINTEGER": "long",
    "DOUBLE": "real",
    "FLOAT": "real",
    "TIMESTAMP": "datetime",
    "TIMESTAMP_NS": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "DATE": "datetime",
    "INTERVAL": "timespan",
    "JSON": "dynamic",
    "UUID": "guid",
}


def kql_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return "real"
    if duck_type.endswith("[]") or duck_type.startswith(("STRUCT", "MAP")):
        return "dynamic"
    return _KQL_TYPES.get(duck_type, "string")


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _datetime_text(value: dt.datetime | dt.date) -> str:
    """Kusto's form: a 4-digit year (0001, 0999), up to 7 fractional digits with trailing zeros
    dropped, no fraction at all on a whole second (the recorded `2000-01-02T03:04:05Z`)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    fraction = f"{value.microsecond:06d}0".rstrip("0")
    return value.replace(microsecond=0).isoformat() + (f".{fraction}" if fraction else "") + "Z"


def cell(value: Any, kind: str) -> Any:
    if value is None:
        return "" if kind == "string" else None
    if kind == "datetime" and isinstance(value, dt.datetime | dt.date):
        return _datetime_text(value)
    if kind == "datetime" and isinstance(value, int):  # nanoseconds since 1970 (_with_ticks)
        whole, nanos = divmod(value, 1_000_000_000)
        text = _datetime_text(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=whole))
        fraction = f"{nanos // 100:07d}".rstrip("0")
        return text[:-1] + (f".{fraction}" if fraction else "") + "Z"
    if kind == "timespan" and isinstance(value, dt.timedelta):
        total = value.total_seconds()
        sign = "-" if total < 0 else ""
        total = abs(total)
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        prefix = f"{int(days)}." if days else ""
        return f"{sign}{prefix}{int(hours):02d}:{int(minutes):02d}:{seconds:010.7f}"
    if kind == "dynamic" and not isinstance(value, str):
        return json.dumps(value, default=str)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if kind == "real" and isinstance(value, float) and not math.isfinite(value):
        return _NON_FINITE[repr(value)]  # JSON has no NaN/Infinity: Kusto writes them as strings
    if kind in ("string", "guid") and not isinstance(value, str):
        return str(value)
    return value


def answer(
    columns: list[str], types: list[str], rows: list[tuple[Any, ...]], limits: Limits
) -> dict[str, Any]:
    keep = [i for i, name in enumerate(columns) if name not in HIDDEN_COLUMNS]
    kinds = [kql_type(types[i]) for i in keep]
    partial = None
    if len(rows) > limits.rows:
        rows = rows[: limits.rows]
        partial = f"Query result set has exceeded the internal record count limit {limits.rows} records"
    out_rows = []
    size = 0
    for row in rows:
        cells = [cell(row[i], kinds[n]) for n, i in enumerate(keep)]
        size += len(json.dumps(cells, default=str))
        if size > limits.size:
            partial = f"Query result set has exceeded the internal data size limit {limits.size} bytes"
            break
        out_rows.append(cells)
    body: dict[str, Any] = {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": columns[i], "type": kinds[n]} for n, i in enumerate(keep)],
                "rows": out_rows,
            }
        ]
    }
    if partial:
        body.update(partial_error(partial))
    return body


def partial_error(reason: str) -> dict[str, Any]:
    """The `error` the service sets beside the tables of a partial result; the reason is innermost."""
    return {
        "error": {
            "code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [
                {
                    "code": "EngineError",
                    "message": "Something went wrong processing your query on the server.",
                    "innererror": {
                        "code": "-2133196797",
                        "message": reason,
                        "severity": 2,
                        "severityName": "Error",
                    },
                }
            ],
        }
    }
