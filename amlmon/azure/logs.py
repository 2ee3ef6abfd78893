"""Running KQL through the Log Analytics query API (azure-monitor-query's LogsQueryClient).

Two routes: the App Insights component (resource-centric; classic schema: traces, requests, …) and
the Log Analytics workspace (workspace schema: AppTraces, AppRequests, …). Requests go through the
client's pipeline (`send_request`); the answer's JSON is read here (see run_query for why).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from amlmon.azure.errors import response_json
from amlmon.azure.log_answers import QueryResult as QueryResult  # the answer's types, re-exported
from amlmon.azure.log_answers import Table as Table
from amlmon.azure.log_answers import decode_table, error_position, error_text
from amlmon.errors import PartialResult, RejectedQuery

if TYPE_CHECKING:
    from amlmon.azure.workspaces import WorkspaceInfo

Source = Literal["app-insights", "log-analytics"]
# azure-core does not repeat a POST whose connection dropped mid-answer; a query only reads, so
# asking again is safe. (429 and 5xx answers are retried inside the SDK's own retry policy.)
DROPPED_CONNECTION_REASKS = 3


# 504: the query outlived `Prefer: wait`; asking again would only wait as long once more (three times
# over by azure-core's default), so the query API's retry policy treats it as final.
FINAL_STATUSES = (504,)


@dataclass(frozen=True)
class QueryApi:
    """What a query needs, composed by the context (AppContext.query_api): the LogsQueryClient, the
    workspace whose App Insights component and Log Analytics workspace are the two routes, the query
    API's base URL and the --verbose note. Callables, so nothing is built or read before the first
    query, in the order a query needs them (the workspace's errors come first)."""

    client: Callable[[], Any]
    workspace: Callable[[], WorkspaceInfo]
    endpoint: Callable[[], str]
    note_once: Callable[[str, str], None]

    def route(self, source: Source) -> str:
        """The query route's resource: the Log Analytics customer ID or the component's resource ID."""
        info = self.workspace()
        return info.require_log_analytics() if source == "log-analytics" else info.require_app_insights()


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


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # 4-digit year


def timespan_text(timespan: tuple[dt.datetime, dt.datetime] | dt.timedelta | None) -> str | None:
    """The query API's `timespan`: `start/end`, or a duration ending now."""
    if timespan is None:
        return None
    if isinstance(timespan, dt.timedelta):
        return f"PT{timespan.total_seconds()}S"
    start, end = timespan
    return f"{_iso(start)}/{_iso(end)}"


def _query_request(source: Source, target: str, query: str, timespan: str | None, prefer: str | None) -> Any:
    from urllib.parse import quote

    from azure.core.rest import HttpRequest

    if source == "log-analytics":
        path = f"/workspaces/{quote(target, safe='')}/query"
    else:
        from amlmon.azure.paths import resource_path

        path = resource_path(target) + "/query"  # each segment checked and encoded once
    body: dict[str, Any] = {"query": query}
    if timespan is not None:
        body["timespan"] = timespan
    headers = {"Accept": "application/json"}
    if prefer:
        headers["Prefer"] = prefer
    return HttpRequest("POST", path, json=body, headers=headers)


def _answer(response: Any) -> dict[str, Any]:
    """The 200 body, or the SDK's own exception for any other status."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        map_error,
    )

    if response.status_code == 200:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HttpResponseError(message="the query service answered 200 with something that is not JSON")
        return body
    if response.status_code == 400:
        error = (response_json(response) or {}).get("error") or {}
        line, pos, token = error_position(error)
        raise RejectedQuery(
            f"the query was rejected: {error_text(error) if error else 'HTTP 400'}",
            hint="fix the KQL (--print-query shows what amlmon sent)",
            line=line,
            pos=pos,
            token=token,
        )
    map_error(response.status_code, response, {401: ClientAuthenticationError, 404: ResourceNotFoundError})
    raise HttpResponseError(response=response)


def run_query(
    api: QueryApi,
    query: str,
    *,
    timespan: tuple[dt.datetime, dt.datetime] | dt.timedelta | None,
    source: Source = "app-insights",
    server_timeout: int | None = None,
    allow_partial: bool = True,
    reasks: int = DROPPED_CONNECTION_REASKS,
    parse_datetimes: bool = True,
    **request_options: Any,
) -> QueryResult:
    """Run one KQL query; raise QueryError for a rejected query, PartialResult if not allow_partial.

    The request goes through the LogsQueryClient's own pipeline (credential, retries on 429/5xx with
    Retry-After, logging) with `send_request`, and amlmon reads the answer's JSON itself: the SDK's
    typed models cost ~85 µs a row (a regex date parse per datetime cell, an object and a dict per
    row), several times the rest of a `traces` line.

    A dropped connection is asked again up to `reasks` times. `request_options` go to the pipeline as
    per-request options (with reasks=0 and retry_total=0 the caller does all retrying).
    `parse_datetimes=False` keeps datetime cells as the service's text (7 fractional digits, which a
    Python datetime cannot hold).
    """
    target = api.route(source)
    api.note_once(
        f"route:{source}",
        f"queries go to the {'Log Analytics workspace' if source == 'log-analytics' else 'App Insights component'} "
        f"{target} at {api.endpoint()}/v1",
    )
    request = _query_request(
        source, target, query, timespan_text(timespan), f"wait={server_timeout}" if server_timeout else None
    )
    client = api.client()
    body = _answer(_asking_again(lambda: client.send_request(request, **request_options), reasks))
    tables = [decode_table(raw, parse_datetimes=parse_datetimes) for raw in body.get("tables") or []]
    error = body.get("error")
    if error:
        result = QueryResult(tables, error_text(error))
        if not allow_partial:
            raise PartialResult(
                f"partial result: {result.partial_error}", hint="narrow the time range or the query"
            )
        return result
    return QueryResult(tables)


# ---------------------------------------------------------------------------------------------------
# Streaming: rows as the answer arrives, so `query -o jsonl|tsv` holds one row at a time, not the answer
# ---------------------------------------------------------------------------------------------------
StreamEvent = tuple[Literal["table", "row", "error"], Any]
_STREAM_CHUNK = 1 << 16


class _AnswerReader:
    """An incremental reader of the query API's answer: `{"tables": [{"name", "columns", "rows":
    [[…], …]}, …], "error": {…}}`, read from an iterator of byte chunks.

    Each value is read whole with json's own decoder (C speed); only the structure around the rows
    is walked here. Memory is one chunk plus the row being read."""

    def __init__(self, chunks: Any) -> None:
        import codecs

        self._chunks = iter(chunks)
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder(parse_constant=str)  # a bare NaN/Infinity reads as Kusto's string
        self.buf, self.pos = "", 0

    def _more(self) -> bool:
        for chunk in self._chunks:
            text = self._text.decode(chunk)
            if text:
                self.buf, self.pos = self.buf[self.pos :] + text, 0
                return True
        return False

    def _peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                raise ValueError("the answer ended early")

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise ValueError(f"expected {char!r} in the answer at {self.buf[self.pos : self.pos + 20]!r}")
        self.pos += 1

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
            except ValueError:
                if self._more():
                    continue  # the value runs past what has arrived
                raise
            if end == len(self.buf) and self._more():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return value

    def _separator(self, closing: str) -> bool:
        """After an item: True if another follows, False at `closing`."""
        char = self._peek()
        self.pos += 1
        if char == ",":
            return True
        if char == closing:
            return False
        raise ValueError(f"expected ',' or {closing!r} in the answer")

    def events(self) -> Iterator[StreamEvent]:
        self._expect("{")
        if self._peek() == "}":
            return
        while True:
            key = self._value()
            self._expect(":")
            if key == "tables":
                yield from self._tables()
            elif key == "error":
                yield ("error", self._value())
            else:
                self._value()
            if not self._separator("}"):
                return

    def _tables(self) -> Any:
        self._expect("[")
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            yield from self._table()
            if not self._separator("]"):
                return

    def _table(self) -> Any:
        self._expect("{")
        header: dict[str, Any] = {"name": "PrimaryResult", "columns": []}
        announced = False
        if self._peek() != "}":
            while True:
                key = self._value()
                self._expect(":")
                if key == "rows":
                    announced = True
                    yield ("table", decode_table({**header, "rows": []}))
                    yield from self._rows()
                else:
                    header[key] = self._value()
                if not self._separator("}"):
                    break
        else:
            self.pos += 1
        if not announced:
            yield ("table", decode_table({**header, "rows": []}))

    def _rows(self) -> Any:
        self._expect("[")
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            yield ("row", self._value())
            if not self._separator("]"):
                return


def stream_query(
    api: QueryApi,
    query: str,
    *,
    timespan: tuple[dt.datetime, dt.datetime] | dt.timedelta | None,
    source: Source = "app-insights",
    server_timeout: int | None = None,
) -> Iterator[StreamEvent]:
    """Run one KQL query and yield its answer as it arrives: ("table", Table without rows) before
    each table's rows, ("row", [cells]) for each row as the service wrote it (datetimes as text),
    and ("error", {…}) for a partial result's error. Rejected queries raise as in run_query."""
    target = api.route(source)
    request = _query_request(
        source, target, query, timespan_text(timespan), f"wait={server_timeout}" if server_timeout else None
    )
    client = api.client()
    response = _asking_again(lambda: client.send_request(request, stream=True), DROPPED_CONNECTION_REASKS)
    if response.status_code != 200:
        response.read()
        _answer(response)  # raises the error the status stands for
    try:
        yield from _AnswerReader(response.iter_bytes(chunk_size=_STREAM_CHUNK)).events()
    except ValueError as exc:
        from azure.core.exceptions import HttpResponseError

        raise HttpResponseError(message=f"the query service's answer could not be read: {exc}") from None
    finally:
        response.close()
