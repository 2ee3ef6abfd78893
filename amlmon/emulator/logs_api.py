"""The Log Analytics query API: workspace, resource-centric and App Insights app routes.

Answers like the service (see the sdk-js recordings): `{"tables":[{"name":"PrimaryResult","columns",
"rows"}]}` with KQL types; 400 BadArgumentError → SyntaxError/SYN0002 or SemanticError/SEM0100 with line
and position; 504 GatewayTimeout when the query outlives `Prefer: wait=N`; past 500,000 rows (or ~64 MB)
a partial result with an `error` beside the tables. The settings `queryRowLimit` and `queryByteLimit`
lower those caps, so tests can meet them without half a million rows.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import TYPE_CHECKING, Any

import duckdb

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.logs_answer import Limits, answer, error, partial_error, semantic_error, syntax_error
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import Scope, rewrite_kql, utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

MAX_ROWS = 500_000
MAX_BYTES = 64 * 1024 * 1024
# duckdb-kql builds a `range` as one in-memory list (~90 bytes a row) that neither the server timeout
# nor DuckDB's memory limit can stop: a larger range is refused the way the service refuses a query
# that outgrows its memory, before it runs. Anything else meets DuckDB's memory limit (store.py).
MAX_RANGE_ROWS = 10_000_000
LOW_MEMORY = (
    "Query execution lacks memory resources to complete (80DA0007): Partial query failure: "
    "Low memory condition (E_LOW_MEMORY_CONDITION)."
)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"\brange\s+\w+\s+from\s+({_NUMBER})\s+to\s+({_NUMBER})\s+step\s+({_NUMBER})")
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
    return state.resources.list(type="microsoft.insights/components")


def _workspace_components(state: EmulatorState, la_id: str) -> list[dict[str, Any]]:
    """Components linked to this workspace now, or whose rows were ingested into it before a relink
    (those rows stay there: log_ledger.py)."""
    from amlmon.emulator import log_ledger

    wanted = normalize_id(la_id)
    past = set(log_ledger.sources(state, la_id))
    return [
        c
        for c in _all_components(state)
        if normalize_id(str(c.get("properties", {}).get("WorkspaceResourceId") or "x")) == wanted
        or normalize_id(str(c.get("id") or "")) in past
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
    for la in state.resources.list(type="Microsoft.OperationalInsights/workspaces"):
        if str(la.get("properties", {}).get("customerId", "")).lower() == customer_id:
            from amlmon.emulator.log_ledger import diagnostic_sources

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
    body = state.resources.get(rid)
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
        from amlmon.emulator.log_ledger import diagnostic_sources

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
    if _largest_range(query) > MAX_RANGE_ROWS:
        return _low_memory_answer()
    store = state.telemetry
    cursor, schema = store.cursor_for(scope)
    timer = threading.Timer(wait, cursor.interrupt)
    timer.start()
    try:
        limits = Limits(
            rows=int(state.number("queryRowLimit", MAX_ROWS)),
            size=int(state.number("queryByteLimit", MAX_BYTES)),
        )
        columns, types, rows = _execute(cursor, rewrite_kql(query), limits.rows)
    except _OutOfMemory:
        return _low_memory_answer()
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
    return json_response(200, answer(columns, types, rows, limits), headers)


class _Interrupted(Exception):
    pass


class _OutOfMemory(Exception):
    pass


def _largest_range(query: str) -> float:
    """The most rows any numeric `range` operator outside string literals would generate."""
    from amlmon.emulator.store import code_spans

    code = "".join(text if is_code else " " * len(text) for is_code, text in code_spans(query))
    largest = 0.0
    for start, stop, step in _RANGE.findall(code):
        first, last, stride = float(start), float(stop), float(step)
        if stride == 0 or (last - first) / stride < 0:
            continue
        largest = max(largest, (last - first) / stride + 1)
    return largest


def _low_memory_answer() -> Response:
    """What the service answers when a query outgrows its memory: a partial failure, no rows."""
    body = {"tables": [{"name": "PrimaryResult", "columns": [], "rows": []}]}
    body.update(partial_error(LOW_MEMORY))
    return json_response(200, body)


def _execute(
    cursor: duckdb.DuckDBPyConnection, query: str, max_rows: int
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    import duckdb_kql

    try:
        relation = duckdb_kql.query(cursor, query)
        columns = list(relation.columns)
        types = [str(t) for t in relation.types]
        rows = _with_ticks(relation, columns, types).limit(max_rows + 1).fetchall()
    except duckdb_kql.KqlSyntaxError as exc:
        raise QueryRejected(syntax_error(query, exc)) from None
    except duckdb.InterruptException:
        raise _Interrupted() from None
    except duckdb.OutOfMemoryException:
        raise _OutOfMemory() from None
    except (duckdb_kql.KqlError, duckdb.Error) as exc:
        if "interrupt" in str(exc).lower():
            raise _Interrupted() from None
        raise QueryRejected(semantic_error(query, exc)) from None
    return columns, types, rows


def _with_ticks(relation: Any, columns: list[str], types: list[str]) -> Any:
    """The relation with each nanosecond timestamp as an integer (Python's datetime would drop the
    7th fractional digit); `cell` writes it as Kusto does."""
    if "TIMESTAMP_NS" not in types:
        return relation
    quoted = ['"' + name.replace('"', '""') + '"' for name in columns]
    return relation.project(
        ", ".join(
            f"epoch_ns({name}) AS {name}" if kind == "TIMESTAMP_NS" else name
            for name, kind in zip(quoted, types, strict=True)
        )
    )
