"""Azure Monitor platform metrics of a resource, through azure-mgmt-monitor's `metrics.list`.

azure-mgmt-monitor 7.0 sends api-version 2024-02-01 by default; amlmon asks for 2023-10-01, the
version whose Metrics_List answer (`cost`, `timespan`, `interval`, `value[].timeseries[].data[]`,
`namespace`, `resourceregion`) it reads — the SDK's `Response` model is the same for both. One call per
resource carries every metric name (the service answers them together). azure-monitor-query 2.0 has
no metrics client and azure-monitor-querymetrics 1.0 only a batch one, so this is the well-kept client
that fits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.mgmt.monitor import MonitorManagementClient

API_VERSION = "2023-10-01"
MAX_SERIES = 100


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_metrics(
    client: MonitorManagementClient,
    resource_id: str,
    names: Sequence[str],
    *,
    start: dt.datetime,
    end: dt.datetime,
    interval: str = "FULL",
    aggregation: Sequence[str] = ("average",),
    filter: str | None = None,
) -> dict[str, Any]:
    """The Metrics_List answer for `names` of one resource, as a plain dict (SDK attribute names:
    `value[].timeseries[].metadatavalues[]`, `data[].time_stamp`, `average`, `total`, …)."""
    response = client.metrics.list(
        resource_uri=resource_id.lstrip("/"),  # the SDK's URL template adds the leading slash
        timespan=f"{_iso(start)}/{_iso(end)}",
        interval=interval,
        metricnames=",".join(names),
        aggregation=",".join(aggregation),
        filter=filter,
        # With a $filter the service answers only the `top` series per metric (default 10): all of
        # them here (an endpoint has at most 20 deployments, 5 status classes each).
        top=MAX_SERIES if filter else None,
        # One call carries every metric: a dimension one of them lacks is ignored for that metric,
        # not an error for the call (the service's default).
        validate_dimensions=False,
        api_version=API_VERSION,
    )
    return dict(response.as_dict())
