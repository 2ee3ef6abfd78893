"""The KQL behind `data pull` (and drift's windows): model_data_collection traces of a time range.

One base query (table, time range, the model data message, the targets), then the rows in time order,
their count, or a per-bin count histogram the slicer plans from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from amlmon import kql
from amlmon.schema import APP, MODEL_DATA_MESSAGE, Source
from amlmon.targets import Target, telemetry_filter


def base_query(targets: Sequence[Target], source: Source, start: dt.datetime, end: dt.datetime) -> str:
    c = APP[source]
    return (
        f"{c.traces}\n"
        f"| where {c.time} >= {kql.datetime(start)} and {c.time} < {kql.datetime(end)}\n"
        f"| where {c.message} == {kql.string(MODEL_DATA_MESSAGE)}\n"
        f"| where {telemetry_filter(targets, source, 'modelData')}"
    )


def rows_query(targets: Sequence[Target], source: Source, start: dt.datetime, end: dt.datetime) -> str:
    c = APP[source]
    return (
        base_query(targets, source, start, end)
        + f"\n| project {c.time}, {c.role}, {c.properties}\n| order by {c.time} asc"
    )


def count_query(targets: Sequence[Target], source: Source, start: dt.datetime, end: dt.datetime) -> str:
    return base_query(targets, source, start, end) + "\n| summarize n = count()"


def histogram_query(
    targets: Sequence[Target], source: Source, start: dt.datetime, end: dt.datetime, size: dt.timedelta
) -> str:
    c = APP[source]
    return base_query(targets, source, start, end) + (
        f"\n| summarize n = count() by b = bin({c.time}, {kql.timespan(size)})"
    )
