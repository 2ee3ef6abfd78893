"""`amlmon traces --request ID`: everything amlmon can find for one request, as one timeline.

How one request is named in each source (AZURE-FACTS.md): the front door's `x-request-id` is the
traffic log's `XRequestId`, the inference server's `Request Id` custom dimension on its App Insights
requests, traces and exceptions (1.5.x puts operation ids of zeros on traces, so the dimension is the
only join), and the data collector records' `xrequestid` (and `correlationid` when score.py passes the
request id on). Console lines (AmlOnlineEndpointConsoleLog, getLogs) carry no request id: they are not
correlated, and the timeline says so rather than guessing by time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from amlmon import kql
from amlmon.schema import (
    APP,
    COLLECTOR_RECORD,
    DURATION_DIMENSION,
    ENDPOINT_LOGS,
    PACKED_DIMENSION,
    REQUEST_ID_DIMENSION,
    RESULT_CODE_DIMENSION,
)

SOURCES = ("traffic-log", "app-insights", "collector")
NOT_CORRELATED = (
    "console lines (AmlOnlineEndpointConsoleLog, getLogs) carry no request id: they are not part of "
    "this timeline"
)
RECORD_IDS = COLLECTOR_RECORD.request_ids()


@dataclass
class Entry:
    """One thing amlmon found for the request, in the timeline."""

    source: str  # one of SOURCES
    time: dt.datetime | None
    kind: str  # traffic, request, trace, exception, or the collection name (model_inputs, …)
    summary: str
    record: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from amlmon.timeparse import iso_utc

        return {
            "time": iso_utc(self.time, "milliseconds") if self.time else None,
            "kind": self.kind,
            "summary": self.summary,
            "record": self.record,
        }


def traffic_query(request_id: str) -> str:
    t = ENDPOINT_LOGS.traffic
    columns = (
        t.time,
        t.endpoint,
        t.deployment,
        t.method,
        t.path,
        t.response_code,
        t.model_status_code,
        t.total_duration_ms,
        t.request_duration_ms,
        t.response_duration_ms,
        t.request_id,
        t.client_request_id,
    )
    return (
        f"{t.table}\n| where {t.request_id} == {kql.string(request_id)}\n"
        f"| project {', '.join(columns)}\n| order by {t.time} asc"
    )


def app_insights_query(request_id: str) -> str:
    """Requests, traces and exceptions whose `Request Id` dimension is the id, projected alike."""
    c = APP["app-insights"]
    match = f"{c.dimension(REQUEST_ID_DIMENSION)} == {kql.string(request_id)}"
    # 1.5.x model data packs its keys into one Python-literal property: the id is inside that text.
    packed = f"{c.dimension(PACKED_DIMENSION)} contains_cs {kql.string(f'{REQUEST_ID_DIMENSION!r}: {request_id!r}')}"
    shape = "eventTime = {time}, entryKind = {kind}, message = {message}, code = {code}, duration = {duration}, properties = {props}"

    def part(table: str, kind: str, message: str, code: str, duration: str, where: str = match) -> str:
        projection = shape.format(
            time=c.time,
            kind=kql.string(kind),
            message=message,
            code=code,
            duration=duration,
            props=c.properties,
        )
        return f"({table} | where {where} | project {projection})"

    parts = [
        part(c.requests, "request", "''", f"tostring({c.result_code})", f"tostring({c.duration})"),
        part(c.traces, "trace", c.message, "''", "''", f"{match} or {packed}"),
        part(c.exceptions, "exception", f"strcat({c.ex_type}, ': ', {c.ex_message})", "''", "''"),
    ]
    return "union " + ",\n ".join(parts) + "\n| order by eventTime asc"


def traffic_entries(rows: Iterable[dict[str, Any]]) -> Iterator[Entry]:
    from amlmon.telemetry import as_datetime

    t = ENDPOINT_LOGS.traffic
    for row in rows:
        summary = (
            f"{row.get(t.endpoint)}/{row.get(t.deployment)} {row.get(t.method)} {row.get(t.path)} → "
            f"{row.get(t.response_code)} (model {row.get(t.model_status_code)}) in {row.get(t.total_duration_ms)} ms"
        )
        yield Entry("traffic-log", as_datetime(row.get(t.time)), "traffic", summary, dict(row))


def app_insights_entries(rows: Iterable[dict[str, Any]]) -> Iterator[Entry]:
    from amlmon.redact import redact
    from amlmon.telemetry import as_datetime

    for row in rows:
        props = _dimensions(row.get("properties"))
        kind = str(row.get("entryKind"))
        if kind == "request":
            # 1.5.x sends placeholders in the columns and the real values as dimensions.
            code = props.get(RESULT_CODE_DIMENSION) or row.get("code")
            duration = props.get(DURATION_DIMENSION) or row.get("duration")
            summary = f"request → {code} in {duration}"
        else:
            summary = redact(str(row.get("message") or "")).strip()
        record = {"kind": kind, "message": row.get("message"), "properties": props}
        yield Entry("app-insights", as_datetime(row.get("eventTime")), kind, summary, record)


def _dimensions(value: Any) -> dict[str, Any]:
    """customDimensions arrive as JSON text (dynamic column) or an object; anything else is {}."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def record_matches(record: dict[str, Any], request_id: str) -> bool:
    return any(str(record.get(key) or "") == request_id for key in RECORD_IDS)


def collector_entries(records: Iterable[tuple[str, dict[str, Any]]], request_id: str) -> Iterator[Entry]:
    """Collector records (blob name, record) that name the request; a batched record is one entry with
    only this request's rows when its ids say which (`{correlationid}_{i}` rows share the record)."""
    from amlmon.collector import parse_time

    for blob, record in records:
        if not record_matches(record, request_id):
            continue
        collection = (
            str(record.get(COLLECTOR_RECORD.type) or "").removeprefix("azureml.inference.") or "record"
        )
        data = record.get(COLLECTOR_RECORD.data)
        rows = len(data) if isinstance(data, list) else 1
        summary = f"{collection}: {rows} row{'s' if rows != 1 else ''} ({blob})"
        yield Entry("collector", parse_time(record.get(COLLECTOR_RECORD.time)), collection, summary, record)


def timeline(entries: Iterable[Entry]) -> list[Entry]:
    """Oldest first, compared to the whole second; entries without a time last.

    Why whole seconds: the collector's record `time` has no fraction ("…T08:51:30Z"), so its entries
    would sort before a front-door row of the same second that came first. Within one second the
    request's own order decides (front door, server, collector; SOURCES), then the exact time."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)

    def key(entry: Entry) -> tuple[dt.datetime, int, dt.datetime]:
        when = entry.time or far
        return (when.replace(microsecond=0), SOURCES.index(entry.source), when)

    return sorted(entries, key=key)


def by_source(entries: Iterable[Entry]) -> dict[str, list[dict[str, Any]]]:
    keyed: dict[str, list[dict[str, Any]]] = {source: [] for source in SOURCES}
    for entry in entries:
        keyed[entry.source].append(entry.to_dict())
    return keyed
