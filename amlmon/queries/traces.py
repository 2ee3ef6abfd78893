"""The KQL behind `amlmon traces`: a window read in pages, the newest N, and one follow request.

Both App Insights schemas are projected onto the same column names (schema.TRACE_ROW), so
everything after the query is blind to the source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from amlmon import kql
from amlmon.schema import APP, MODEL_DATA_MESSAGE, TRACE_ROW, Source
from amlmon.targets import Kind, Target, telemetry_filter

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

    @property
    def kind(self) -> Kind:
        return "modelData" if self.model_data else "traces"


def _time_filter(spec: TraceFilter, source: Source, arrived_from: dt.datetime | None) -> str:
    time = APP[source].time
    line = f"| where {time} >= {kql.datetime(spec.start)}"
    if arrived_from is not None:
        line += f" or ingestion_time() >= {kql.datetime(arrived_from)}"
    if spec.end is not None:
        line += f" and {time} < {kql.datetime(spec.end)}"
    return line


def _base(spec: TraceFilter, source: Source, *, arrived_from: dt.datetime | None = None) -> list[str]:
    """The filters every query shares. `arrived_from`: rows ingested from then on pass whatever their
    event time (a follow's late arrivals)."""
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


def _projection(source: Source, spec: TraceFilter) -> str:
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
        lines.append(f"| where {APP[source].time} >= {kql.datetime(after)}")
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
