"""The KQL behind `amlmon traces`: a window read in pages, the newest N, and one follow request.

Both App Insights schemas are projected onto the same column names (schema.TRACE_ROW), so
everything after the query is blind to the source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from amlmon import kql
from amlmon.schema import APP, ENDPOINT_LOGS, MODEL_DATA_MESSAGE, TRACE_ROW, EndpointLog, Source
from amlmon.targets import Kind, Target, telemetry_filter

EndpointTable = Literal["console", "events"]
FOLLOW_PAGE_ROWS = 10_000  # rows per follow request; a full page is followed at once by the next
WINDOW_PAGE_ROWS = 50_000  # rows per request when reading a time window


@dataclass(frozen=True)
class TraceFilter:
    """What the user asked for. `start`/`end` bound the event time (end None: open, for --follow)."""

    start: dt.datetime
    end: dt.datetime | None = None
    targets: tuple[Target, ...] = ()
    message: str | None = None  # substring, case-sensitive
    grep: str | None = None  # regular expression (RE2, evaluated by the service)
    min_severity: int | None = None
    model_data: bool = False
    # A v2 endpoint log table instead of App Insights traces (read in the Log Analytics workspace):
    # console lines or container events, projected onto the same TRACE_ROW columns.
    endpoint_log: EndpointTable | None = None

    @property
    def kind(self) -> Kind:
        return "modelData" if self.model_data else "traces"

    @property
    def events(self) -> bool:
        return self.endpoint_log == "events"

    @property
    def log_table(self) -> EndpointLog | None:
        return None if self.endpoint_log is None else ENDPOINT_LOGS.table(self.events)

    @property
    def text_filters(self) -> str:
        """--message, --grep and --severity as given ("" without them): an empty answer may be theirs, not the setup's."""
        from amlmon.telemetry import SEVERITY_NAMES

        severity = None if self.min_severity is None else SEVERITY_NAMES[self.min_severity]
        typed = (("--message", self.message), ("--grep", self.grep), ("--severity", severity))
        return " and ".join(f"{flag} {value!r}" for flag, value in typed if value is not None)


def _time_column(spec: TraceFilter, source: Source) -> str:
    table = spec.log_table
    return table.time if table is not None else APP[source].time


def _time_filter(spec: TraceFilter, source: Source, arrived_from: dt.datetime | None) -> str:
    time = _time_column(spec, source)
    line = f"| where {time} >= {kql.datetime(spec.start)}"
    if arrived_from is not None:
        line += f" or ingestion_time() >= {kql.datetime(arrived_from)}"
    if spec.end is not None:
        line += f" and {time} < {kql.datetime(spec.end)}"
    return line


def _base(spec: TraceFilter, source: Source, *, arrived_from: dt.datetime | None = None) -> list[str]:
    """The filters every query shares. `arrived_from`: rows ingested from then on pass whatever their
    event time (a follow's late arrivals)."""
    if spec.log_table is not None:
        return _endpoint_base(spec, spec.log_table, arrived_from)
    c = APP[source]
    lines = [c.traces, _time_filter(spec, source, arrived_from)]
    if spec.targets:
        lines.append(f"| where {telemetry_filter(spec.targets, source, spec.kind)}")
    op = "==" if spec.model_data else "!="
    lines.append(f"| where {c.message} {op} {kql.string(MODEL_DATA_MESSAGE)}")
    if spec.message is not None:
        lines.append(f"| where {c.message} contains_cs {kql.string(spec.message)}")
    if spec.grep is not None:
        lines.append(f"| where {c.message} matches regex {kql.string(spec.grep)}")
    if spec.min_severity is not None:
        lines.append(f"| where toint({c.severity}) >= {int(spec.min_severity)}")
    return lines


def _endpoint_base(spec: TraceFilter, table: EndpointLog, arrived_from: dt.datetime | None) -> list[str]:
    """An endpoint log table: the endpoint is matched in `_ResourceId`, the deployment is a column."""
    lines = [table.table, _time_filter(spec, "log-analytics", arrived_from)]
    if spec.targets:
        matches = " or ".join(f"({ENDPOINT_LOGS.endpoint_match(t.name, t.deployment)})" for t in spec.targets)
        lines.append(f"| where {matches}")
    if spec.message is not None:
        lines.append(f"| where {table.message} contains_cs {kql.string(spec.message)}")
    if spec.grep is not None:
        lines.append(f"| where {table.message} matches regex {kql.string(spec.grep)}")
    return lines


def _endpoint_projection(spec: TraceFilter, table: EndpointLog) -> str:
    """Console lines and events as TRACE_ROW columns: no severity or operation (the tables have none);
    the container (or event name) as a property; the target `ep/deployment` from the target that matched."""
    detail, column = ENDPOINT_LOGS.detail(spec.events)
    labels = []
    for t in spec.targets:
        label = (
            kql.string(str(t)) if t.deployment else f"strcat({kql.string(t.name + '/')}, {table.deployment})"
        )
        labels.append(f"{ENDPOINT_LOGS.endpoint_match(t.name, t.deployment)}, {label}")
    fallback = f"strcat({table.resource}, '/', {table.deployment})"
    target = f"case({', '.join(labels)}, {fallback})" if labels else fallback
    r = TRACE_ROW
    return (
        f"| project {r.time} = {table.time}, {r.ingested} = ingestion_time(), {r.item_id} = {table.item_id}, "
        f"{r.message} = {table.message}, {r.severity} = toint(''), {r.role} = {table.deployment}, "
        f"{r.instance} = {table.instance}, {r.operation} = '', "
        f"{r.properties} = bag_pack({kql.string(detail)}, {column}), {r.target} = {target}"
    )


def _projection(source: Source, spec: TraceFilter) -> str:
    if spec.log_table is not None:
        return _endpoint_projection(spec, spec.log_table)
    pairs = zip(TRACE_ROW.columns(), TRACE_ROW.sources(source), strict=True)
    parts = [name if name == column else f"{name} = {column}" for name, column in pairs]
    if spec.targets:
        # A 1.4.x print line names no service, a v2 role is not the target's name: the target whose
        # filter matched the row labels it.
        cases = ", ".join(
            f"{telemetry_filter([t], source, spec.kind)}, {kql.string(str(t))}" for t in spec.targets
        )
        parts.append(f"{TRACE_ROW.target} = case({cases}, {kql.string('')})")
    return "| project " + ", ".join(parts)


def window_query(
    spec: TraceFilter, source: Source, *, after: dt.datetime | None = None, page: int = WINDOW_PAGE_ROWS
) -> str:
    """A page of the window in event-time order, from `after` on (inclusive: ties are de-duplicated)."""
    lines = _base(spec, source)
    if after is not None:
        lines.append(f"| where {_time_column(spec, source)} >= {kql.datetime(after)}")
    lines += [_projection(source, spec), f"| order by {TRACE_ROW.time} asc", f"| take {int(page)}"]
    return "\n".join(lines)


def latest_query(spec: TraceFilter, source: Source, limit: int) -> str:
    """The newest `limit` events of the window (printed oldest first)."""
    lines = [*_base(spec, source), _projection(source, spec), f"| top {int(limit)} by {TRACE_ROW.time} desc"]
    return "\n".join(lines)


def follow_query(
    spec: TraceFilter,
    source: Source,
    *,
    ingested_after: dt.datetime | None,
    inclusive: bool = False,
    page: int = FOLLOW_PAGE_ROWS,
    arrived_from: dt.datetime | None = None,
) -> str:
    """One follow request: events ingested after the bound, in ingestion order; with `arrived_from`
    (when the follow started) also those ingested since then with an event time before --since."""
    lines = _base(spec, source, arrived_from=arrived_from)
    if ingested_after is not None:
        op = ">=" if inclusive else ">"
        lines.append(f"| where ingestion_time() {op} {kql.datetime(ingested_after)}")
    lines += [_projection(source, spec), f"| order by {TRACE_ROW.ingested} asc", f"| take {int(page)}"]
    return "\n".join(lines)
