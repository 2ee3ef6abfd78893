"""The Log Analytics query API: workspace, resource-centric and App Insights app routes.

Answers like the service (see the sdk-js recordings): `{"tables":[{"name":"PrimaryResult","columns",
"rows"}]}` with KQL types; 400 BadArgumentError → SyntaxError/SYN0002 or SemanticError/SEM0100 with line
and position; 504 GatewayTimeout when the query outlives `Prefer: wait=N`; past 500,000 rows (or ~64 MB)
a partial result with an `error` beside the tables. The settings `queryRowLimit` and `queryByteLimit`
lower those caps, so tests can meet them without half a million rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.resources import normalize_id, resources
from amlmon.emulator.store import HIDDEN_COLUMNS, Scope, rewrite_kql, telemetry, utcnow

if TYPE_CHECKING:
    from amlmon.emulator.server import EmulatorState

MAX_ROWS = 500_000
MAX_BYTES = 64 * 1024 * 1024
DEFAULT_WAIT = 180
MAX_WAIT = 600
_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_WAIT = re.compile(r"wait=(\d+)", re.IGNORECASE)


class QueryRejected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("rejected")
        self.response = response


def error(status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"message": message, "code": code, "correlationId": str(uuid.uuid4())}}
    if inner:
        body["error"]["innererror"] = inner
    return json_response(status, body)


def register(router: Router, state: EmulatorState) -> None:
    def handle(request: Request, scope_of: Any) -> Response:
        try:
            return _run(state, request, scope_of(request))
        except QueryRejected as exc:
            return exc.response

    for method in ("GET", "POST"):
        router.add(
            method,
            r"/v1/workspaces/(?P<cid>[^/]+)/query",
            lambda r: handle(r, lambda q: _workspace_scope(state, q)),
        )
        router.add(
            method, r"/v1/apps/(?P<app>[^/]+)/query", lambda r: handle(r, lambda q: _app_scope(state, q))
        )
        router.add(
            method,
            r"/v1(?P<rid>/subscriptions/.+)/query",
            lambda r: handle(r, lambda q: _resource_scope(state, q)),
        )


# --- scope -----------------------------------------------------------------------------------------


def _all_components(state: EmulatorState) -> list[dict[str, Any]]:
    return resources(state).list(type="microsoft.insights/components")


def _workspace_components(state: EmulatorState, la_id: str) -> list[dict[str, Any]]:
    wanted = normalize_id(la_id)
    return [
        c
        for c in _all_components(state)
        if normalize_id(str(c.get("properties", {}).get("WorkspaceResourceId") or "x")) == wanted
    ]


def _not_found(what: str) -> QueryRejected:
    return QueryRejected(
        error(
            404,
            "PathNotFoundError",
            f"The requested path does not exist: {what}",
            {"code": "PathNotFoundError"},
        )
    )


def _workspace_scope(state: EmulatorState, request: Request) -> tuple[list[dict[str, Any]], bool]:
    customer_id = request.params["cid"].lower()
    for la in resources(state).list(type="Microsoft.OperationalInsights/workspaces"):
        if str(la.get("properties", {}).get("customerId", "")).lower() == customer_id:
            from amlmon.emulator.online_inference import diagnostic_sources

            return _workspace_components(state, la["id"]) + diagnostic_sources(state, la["id"]), False
    raise _not_found(f"workspace {request.params['cid']}")


def _app_scope(state: EmulatorState, request: Request) -> tuple[list[dict[str, Any]], bool]:
    app = request.params["app"].lower()
    found = [
        c for c in _all_components(state) if str(c.get("properties", {}).get("AppId", "")).lower() == app
    ]
    if not found:
        raise _not_found(f"application {request.params['app']}")
    return found, True


def _resource_scope(state: EmulatorState, request: Request) -> tuple[list[dict[str, Any]], bool]:
    rid = request.params["rid"]
    body = resources(state).get(rid)
    if body is None:
        raise QueryRejected(
            error(
                404,
                "ResourceNotFoundError",
                f"The resource {rid} was not found or you do not have access to it.",
                {"code": "ResourceNotFoundError"},
            )
        )
    kind = str(body.get("type", "")).lower()
    if kind == "microsoft.insights/components":
        return [body], True
    if kind == "microsoft.operationalinsights/workspaces":
        from amlmon.emulator.online_inference import diagnostic_sources

        return _workspace_components(state, body["id"]) + diagnostic_sources(state, body["id"]), False
    return [], False


# --- request parsing -------------------------------------------------------------------------------


def _parameters(request: Request) -> tuple[str, str | None]:
    if request.method == "GET":
        query, timespan = request.q("query"), request.q("timespan")
    else:
        try:
            body = request.json() or {}
        except ValueError:
            raise QueryRejected(
                error(400, "BadArgumentError", "The request body is not valid JSON.")
            ) from None
        query, timespan = body.get("query"), body.get("timespan")
    if not query or not isinstance(query, str):
        raise QueryRejected(
            error(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                {"code": "QueryMissing", "message": "A query is required."},
            )
        )
    return query, timespan


def _duration(text: str) -> dt.timedelta | None:
    match = _ISO_DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return dt.timedelta(
        days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0)
    )


def _instant(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def parse_timespan(text: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`P1D` (ending now), `start/end`, `start/P1D` or `P1D/end`, as the service accepts them."""
    if not text:
        return None, None
    bad = QueryRejected(
        error(400, "BadArgumentError", f"The timespan '{text}' is not valid.", {"code": "InvalidTimespan"})
    )
    if "/" not in text:
        length = _duration(text)
        if length is None:
            raise bad
        now = utcnow()
        return now - length, now
    first, second = text.split("/", 1)
    start, end = _instant(first), _instant(second)
    if start is None and (length := _duration(first)) is not None and end is not None:
        start = end - length
    if end is None and (length := _duration(second)) is not None and start is not None:
        end = start + length
    if start is None or end is None or start > end:
        raise bad
    return start, end


def _wait_seconds(request: Request) -> int:
    match = _WAIT.search(request.header("Prefer") or "")
    return min(int(match.group(1)), MAX_WAIT) if match else DEFAULT_WAIT


# --- running ---------------------------------------------------------------------------------------


def _run(state: EmulatorState, request: Request, scoped: tuple[list[dict[str, Any]], bool]) -> Response:
    components, classic = scoped
    query, timespan = _parameters(request)
    start, end = parse_timespan(timespan)
    scope = Scope(
        resource_ids=tuple(normalize_id(c["id"]) for c in components),
        start=start,
        end=end,
        classic=classic,
        app_ids={normalize_id(c["id"]): str(c.get("properties", {}).get("AppId", "")) for c in components},
    )
    wait = _wait_seconds(request)
    store = telemetry(state)
    cursor, schema = store.cursor_for(scope)
    timer = threading.Timer(wait, cursor.interrupt)
    timer.start()
    try:
        limits = _Limits(
            rows=int(state.number("queryRowLimit", MAX_ROWS)),
            size=int(state.number("queryByteLimit", MAX_BYTES)),
        )
        columns, types, rows = _execute(cursor, rewrite_kql(query), limits.rows)
    except _Interrupted:
        response = error(
            504,
            "GatewayTimeout",
            "Gateway timeout",
            {
                "code": "GatewayTimeout",
                "message": "Connection error",
                "statusDetails": {"code": "ESOCKETTIMEDOUT", "connect": False},
            },
        )
        response.headers["Preference-Applied"] = f"wait={wait}"
        return response
    finally:
        timer.cancel()
        store.release(cursor, schema)
    headers = {"Preference-Applied": f"wait={wait}"} if request.header("Prefer") else {}
    return json_response(200, _answer(columns, types, rows, limits), headers)


class _Interrupted(Exception):
    pass


@dataclass(frozen=True)
class _Limits:
    """What one answer may hold before the service cuts it (the query API's 500,000 rows / 64 MB)."""

    rows: int
    size: int


def _execute(
    cursor: duckdb.DuckDBPyConnection, query: str, max_rows: int
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    import duckdb_kql

    try:
        relation = duckdb_kql.query(cursor, query)
        columns = list(relation.columns)
        types = [str(t) for t in relation.types]
        rows = relation.limit(max_rows + 1).fetchall()
    except duckdb_kql.KqlSyntaxError as exc:
        raise QueryRejected(_syntax_error(query, exc)) from None
    except duckdb.InterruptException:
        raise _Interrupted() from None
    except (duckdb_kql.KqlError, duckdb.Error) as exc:
        if "interrupt" in str(exc).lower():
            raise _Interrupted() from None
        raise QueryRejected(_semantic_error(exc)) from None
    return columns, types, rows


def _syntax_error(query: str, exc: Exception) -> Response:
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


def _semantic_error(exc: Exception) -> Response:
    text = str(exc).split("\n", 1)[0]
    name = re.search(r'(?:name|column) "?([A-Za-z_][\w]*)"?', text)
    message = (
        f"'{name.group(1)}' operator: Failed to resolve table or column expression named '{name.group(1)}'"
        if name and ("does not exist" in text or "not found" in text)
        else text
    )
    return error(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        {
            "code": "SemanticError",
            "message": "A semantic error occurred.",
            "innererror": {"code": "SEM0100", "message": message},
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


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return "" if kind == "string" else None
    if kind == "datetime" and isinstance(value, dt.datetime | dt.date):
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        return value.isoformat() + "T00:00:00Z"
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
    if kind == "real" and isinstance(value, float) and value != value:
        return "NaN"
    if kind in ("string", "guid") and not isinstance(value, str):
        return str(value)
    return value


def _answer(
    columns: list[str], types: list[str], rows: list[tuple[Any, ...]], limits: _Limits
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
        cells = [_cell(row[i], kinds[n]) for n, i in enumerate(keep)]
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
        body["error"] = {
            "code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [
                {
                    "code": "EngineError",
                    "message": "Something went wrong processing your query on the server.",
                    "innererror": {
                        "code": "-2133196797",
                        "message": partial,
                        "severity": 2,
                        "severityName": "Error",
                    },
                }
            ],
        }
    return body
