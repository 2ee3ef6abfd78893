"""Running KQL through the Log Analytics query API (azure-monitor-query's LogsQueryClient).

Two routes: the App Insights component (resource-centric; classic schema: traces, requests, …) and
the Log Analytics workspace (workspace schema: AppTraces, AppRequests, …).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from amlmon.errors import PartialResult, QueryError

if TYPE_CHECKING:
    from amlmon.context import AppContext

Source = Literal["app-insights", "log-analytics"]
# azure-core does not repeat a POST whose connection dropped mid-answer; a query only reads, so
# asking again is safe. (429 and 5xx answers are retried inside the SDK's own retry policy.)
DROPPED_CONNECTION_REASKS = 3


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
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> Table:
        return self.tables[0] if self.tables else Table("PrimaryResult", [], [], [])


class RejectedQuery(QueryError):
    """A syntax or semantic error, with where the service says it is (line 1-based, pos 0-based)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        line: int | None = None,
        pos: int | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.line, self.pos, self.token = line, pos, token


def _error_position(error: Any) -> tuple[int | None, int | None, str | None]:
    """(line, pos, token) of the innermost error that has them."""
    found: tuple[int | None, int | None, str | None] = (None, None, None)
    inner = getattr(error, "innererror", None) or getattr(error, "inner_error", None)
    while inner is not None:
        line, pos = _get(inner, "line"), _get(inner, "pos")
        if isinstance(line, int) and isinstance(pos, int):
            token = _get(inner, "token")
            found = (line, pos, token if isinstance(token, str) else None)
        inner = _get(inner, "innererror")
    return found


def _table(raw: Any) -> Table:
    columns = list(raw.columns)
    types = list(getattr(raw, "columns_types", None) or [""] * len(columns))
    rows = [list(row) for row in raw.rows]
    return Table(str(raw.name), columns, [str(t) for t in types], rows)


def _error_text(error: Any) -> str:
    """One line: the service's code, message and, for syntax errors, the position."""
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(error)
    details = getattr(error, "details", None) or []
    inner = getattr(error, "innererror", None) or getattr(error, "inner_error", None)
    position = ""
    while inner is not None:
        line, pos = _get(inner, "line"), _get(inner, "pos")
        if line is not None:
            position = f" (line {line}, position {pos})"
        message = _get(inner, "message") or message
        code = _get(inner, "code") or code
        inner = _get(inner, "innererror")
    if details and not position:
        first = details[0]
        message = _get(first, "message") or message
    return f"{code}: {message}{position}" if code else f"{message}{position}"


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _asking_again(send: Any, reasks: int) -> Any:
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    for attempt in range(reasks + 1):
        try:
            return send()
        except (ServiceRequestError, ServiceResponseError):
            if attempt == reasks:
                raise
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def run_query(
    ctx: AppContext,
    query: str,
    *,
    timespan: tuple[dt.datetime, dt.datetime] | dt.timedelta | None,
    source: Source = "app-insights",
    server_timeout: int | None = None,
    allow_partial: bool = True,
    reasks: int = DROPPED_CONNECTION_REASKS,
    **request_options: Any,
) -> QueryResult:
    """Run one KQL query; raise QueryError for a rejected query, PartialResult if not allow_partial.

    A dropped connection is asked again up to `reasks` times. `request_options` go to the SDK call as
    per-request pipeline options (with reasks=0 and retry_total=0 the caller does all retrying).
    """
    from azure.core.exceptions import HttpResponseError
    from azure.monitor.query import LogsQueryPartialResult, LogsQueryStatus

    info = ctx.workspace_info
    kwargs: dict[str, Any] = {"timespan": timespan, **request_options}
    if server_timeout is not None:
        kwargs["server_timeout"] = server_timeout
    if source == "log-analytics":
        target, send = info.require_log_analytics(), ctx.logs_client.query_workspace
    else:
        target, send = info.require_app_insights(), ctx.logs_client.query_resource
    try:
        response = _asking_again(lambda: send(target, query, **kwargs), reasks)
    except HttpResponseError as exc:
        if getattr(exc, "status_code", None) == 400:
            error = getattr(exc, "error", None) or exc
            line, pos, token = _error_position(error)
            raise RejectedQuery(
                f"the query was rejected: {_error_text(error)}",
                hint="fix the KQL (--print-query shows what amlmon sent)",
                line=line,
                pos=pos,
                token=token,
            ) from None
        raise
    if (
        isinstance(response, LogsQueryPartialResult)
        or getattr(response, "status", None) == LogsQueryStatus.PARTIAL
    ):
        result = QueryResult([_table(t) for t in response.partial_data], _error_text(response.partial_error))
        if not allow_partial:
            raise PartialResult(
                f"partial result: {result.partial_error}", hint="narrow the time range or the query"
            )
        return result
    return QueryResult(
        [_table(t) for t in response.tables], None, dict(getattr(response, "statistics", None) or {})
    )
