"""Azure Monitor platform metrics of v2 online endpoints and deployments, computed from what the
emulator saw.

Route (bearer token, like ARM):
  GET {resourceId}/providers/Microsoft.Insights/metrics?api-version=2023-10-01&metricnames=A,B
      &timespan=start/end&interval=PT1M|…|FULL&aggregation=average,total,…&$filter=deployment eq '*'

The answer has the Metrics_List shape of api-version 2023-10-01 (azure-rest-api-specs monitor
examples GetMetric.json / GetMetricError.json): `cost`, `timespan`, `interval`, `value[]` of
`{id, type, name{value, localizedValue}, displayDescription, unit, timeseries[]{metadatavalues[],
data[]{timeStamp, average|total|minimum|maximum|count}}, errorCode}`, `namespace`, `resourceregion`.
A metric name the resource type does not publish is a 400 `{"code": "BadRequest", "message":
"Failed to find metric configuration for provider: …, metric: X, Valid metrics: …"}` as Azure answers.

Samples (what the values are computed from):
  endpoint   RequestsPerMinute (one sample of 1 per request through the front door; dims deployment,
             statusCode, statusCodeClass, modelStatusCode), RequestLatency (the front door's total
             duration in ms, dim deployment) and RequestLatency_P50/_P90/_P95/_P99 (the nearest-rank
             percentile of a bucket's RequestLatency samples), DataCollectionEventsPerMinute /
             DataCollectionErrorsPerMinute (one sample per post the collector sidecar accepted /
             could not store; dims deployment, type, reason)
  deployment CpuUtilizationPercentage / CpuMemoryUtilizationPercentage (the inference child and its
             gunicorn workers, read from /proc every `metricsSampleSeconds`, default 2: CPU time over
             wall time over the machine's cores, resident memory over MemTotal), DeploymentCapacity
             (the deployment's sku.capacity), and the data-collection metrics by instanceId.
Published names without a source here (GPU, disk, connections, network) answer with no data points.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, arm_error, json_response
from amlmon.emulator.metric_definitions import DEPLOYMENT_METRICS, ENDPOINT_METRICS, Definition
from amlmon.emulator.metric_samples import Sample, start_sampler
from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

API_VERSIONS = ("2023-10-01", "2024-02-01", "2021-05-01", "2019-07-01", "2018-01-01")
AGGREGATIONS = ("average", "count", "maximum", "minimum", "total")
ENDPOINT_TYPE = "workspaces/onlineEndpoints"
DEPLOYMENT_TYPE = "workspaces/onlineEndpoints/deployments"


# --- the query ----------------------------------------------------------------------------------


_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$", re.I)


def _duration(text: str) -> float | None:
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT"):
        return None
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return float(parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"])


def _instant(text: str) -> float:
    return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def _timespan(text: str | None) -> tuple[float, float]:
    """`start/end`, `start/duration`, or a duration ending now (Azure's default: the last hour)."""
    now = time.time()
    if not text:
        return now - 3600, now
    if "/" in text:
        first, second = text.split("/", 1)
        start = _instant(first)
        length = _duration(second) if second.strip().upper().startswith("P") else None
        return start, start + length if length is not None else _instant(second)
    length = _duration(text)
    if length is None:
        raise ValueError(text)
    return now - length, now


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_duration(seconds: float) -> str:
    """What Azure answers for interval FULL: the span itself (e.g. PT4H)."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part or not days else "")


_CLAUSE = re.compile(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*", re.I)
_AND = re.compile(r"and\b", re.I)


def _filters(text: str | None) -> list[tuple[str, str]]:
    """`deployment eq '*' and statusCodeClass eq '5xx'` → [(dimension lower, value)]; a quote inside a
    value is doubled (OData), and `and` inside quotes is part of the value."""
    if not text or not text.strip():
        return []
    found, at = [], 0
    while True:
        match = _CLAUSE.match(text, at)
        if not match:
            raise ValueError(text[at:] or text)
        found.append((match.group(1).lower(), match.group(2).replace("''", "'")))
        at = match.end()
        if at == len(text):
            return found
        joiner = _AND.match(text, at)
        if not joiner:
            raise ValueError(text[at:])
        at = joiner.end()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _point(
    values: list[float], aggregations: list[str], definition: Definition, counter: bool
) -> dict[str, Any]:
    point: dict[str, Any] = {}
    if definition.percentile is not None:
        if values:
            value = _percentile(values, definition.percentile)
            for name in aggregations:
                point[name] = float(len(values)) if name == "count" else value
        return point
    for name in aggregations:
        if name in ("total", "count"):
            point[name] = float(sum(values) if name == "total" else len(values))
        elif values:
            point[name] = {
                "average": sum(values) / len(values),
                "maximum": max(values),
                "minimum": min(values),
            }[name]
        elif counter:
            point[name] = 0.0
    return point


def _series(
    samples: list[Sample], filters: list[tuple[str, str]], definition: Definition
) -> dict[tuple[tuple[str, str], ...], list[Sample]]:
    """Samples grouped by the dimensions split with `'*'`; other filters keep matching samples only."""
    known = {d.lower(): d for d in definition.dimensions}
    split = [name for name, value in filters if value == "*" and name in known]
    groups: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for sample in samples:
        dims = dict(sample.dims)
        if any(value != "*" and dims.get(name) != value for name, value in filters):
            continue
        key = tuple((known[name], dims.get(name, "")) for name in split)
        groups.setdefault(key, []).append(sample)
    if not split and not groups:
        groups[()] = []  # an unsplit metric always has its one series
    return groups


def _capacity_samples(
    state: EmulatorState, resource_id: str, start: float, end: float, step: float
) -> list[Sample]:
    """DeploymentCapacity: the deployment's sku.capacity, one sample per bucket since it exists."""
    body = state.resources.get(resource_id) or {}
    capacity = float((body.get("sku") or {}).get("capacity") or 1)
    created = str((body.get("systemData") or {}).get("createdAt") or "")
    since = _instant(created) if created else start
    at = start
    found = []
    while at < end:
        if at + step > since:
            found.append(
                Sample(max(at, since), normalize_id(resource_id), "DeploymentCapacity", (), capacity)
            )
        at += step
    return found


def _bad_request(message: str) -> Response:
    return json_response(400, {"code": "BadRequest", "message": message})


def metrics(state: EmulatorState, request: Request) -> Response:
    if not request.q("api-version"):
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    resource_id = request.path[: request.path.lower().rindex("/providers/microsoft.insights/metrics")]
    body = state.resources.get(resource_id)
    if body is None:
        return arm_error(404, "ResourceNotFound", f"The Resource '{resource_id.lstrip('/')}' was not found.")
    deployment = "/deployments/" in resource_id.lower()
    catalog = DEPLOYMENT_METRICS if deployment else ENDPOINT_METRICS
    kind = DEPLOYMENT_TYPE if deployment else ENDPOINT_TYPE
    try:
        query = _query(request, catalog, kind)
    except _BadQuery as exc:
        return _bad_request(str(exc))
    answer = _answer(state, resource_id, catalog, query)
    answer["namespace"] = f"microsoft.machinelearningservices/{kind.lower()}"
    answer["resourceregion"] = str(body.get("location") or "")
    # ARM echoes the caller's correlation id (or makes one) on every answer.
    correlation = request.header("x-ms-correlation-request-id") or str(uuid.uuid4())
    return json_response(200, answer, {"x-ms-correlation-request-id": correlation})


class _BadQuery(Exception):
    """A query Azure refuses with 400 BadRequest; the message is Azure's."""


@dataclass
class _Query:
    """A metrics request's parameters, checked in the order Azure checks them."""

    names: list[str]  # as the catalog spells them
    start: float
    end: float
    step: float
    interval_text: str  # upper-cased, FULL or an ISO 8601 duration
    asked: list[str]  # aggregations, lower-case; empty means each metric's primary one
    filters: list[tuple[str, str]]
    top: int


def _query(request: Request, catalog: dict[str, Definition], kind: str) -> _Query:
    names = _metric_names(request, catalog, kind)
    try:
        start, end = _timespan(request.q("timespan"))
        filters = _filters(request.q("$filter"))
    except ValueError as exc:
        raise _BadQuery(f"Invalid parameter: {exc}") from None
    interval_text = (request.q("interval") or "PT1M").upper()
    step = end - start if interval_text == "FULL" else _duration(interval_text)
    if not step or step <= 0:
        raise _BadQuery(f"Invalid interval: {interval_text}")
    asked = [a.strip().lower() for a in (request.q("aggregation") or "").split(",") if a.strip()]
    if any(a not in AGGREGATIONS for a in asked):
        raise _BadQuery(f"Invalid aggregation: {request.q('aggregation')}")
    if interval_text != "FULL":
        start = math.floor(start / step) * step  # buckets start on interval boundaries
    if str(request.q("ValidateDimensions") or "true").lower() != "false":
        # Azure's default: a filter on a dimension one of the metrics lacks is an error (with
        # ValidateDimensions=false it is ignored for that metric).
        _check_dimensions(names, catalog, filters)
    try:
        top = int(request.q("top") or 10)
    except ValueError:
        raise _BadQuery(f"Invalid top: {request.q('top')}") from None
    return _Query(names, start, end, step, interval_text, asked, filters, top)


def _metric_names(request: Request, catalog: dict[str, Definition], kind: str) -> list[str]:
    """`metricnames` as the catalog spells them (the catalog's first when none); an unknown one is refused."""
    canonical = {name.lower(): name for name in catalog}
    names = [n.strip() for n in (request.q("metricnames") or "").split(",") if n.strip()]
    if not names:
        names = [next(iter(catalog))]
    unknown = [n for n in names if n.lower() not in canonical]
    if unknown:
        raise _BadQuery(
            "Failed to find metric configuration for provider: Microsoft.MachineLearningServices, "
            f"resource Type: {kind}, metric: {unknown[0]}, Valid metrics: {','.join(catalog)}"
        )
    return [canonical[n.lower()] for n in names]


def _check_dimensions(
    names: list[str], catalog: dict[str, Definition], filters: list[tuple[str, str]]
) -> None:
    for name in names:
        known = {d.lower() for d in catalog[name].dimensions}
        missing = [dim for dim, _ in filters if dim not in known]
        if missing:
            raise _BadQuery(
                f"Metric: {name} does not support requested dimension combination: "
                f"{','.join(missing)}, supported ones are: {','.join(catalog[name].dimensions)}"
            )


def _answer(
    state: EmulatorState, resource_id: str, catalog: dict[str, Definition], query: _Query
) -> dict[str, Any]:
    """The Metrics_List body up to `namespace`: cost, timespan, interval and one value per metric."""
    values = [
        _metric_value(
            state, resource_id, name, catalog, query.asked, query.filters, query.start, query.end, query.step
        )
        for name in query.names
    ]
    if query.filters:  # with a $filter Azure answers the `top` series of each metric (default 10)
        for value in values:
            value["timeseries"] = _top(
                value["timeseries"], query.top, query.asked[0] if query.asked else None
            )
    full = query.interval_text == "FULL"
    return {
        "cost": sum(len(series["data"]) for v in values for series in v["timeseries"]),
        "timespan": f"{_iso(query.start)}/{_iso(query.end)}",
        "interval": _iso_duration(query.step) if full else query.interval_text,
        "value": values,
    }


def _metric_value(
    state: EmulatorState,
    resource_id: str,
    name: str,
    catalog: dict[str, Definition],
    asked: list[str],
    filters: list[tuple[str, str]],
    start: float,
    end: float,
    step: float,
) -> dict[str, Any]:
    definition = catalog[name]
    source = "RequestLatency" if definition.percentile is not None else name
    if name == "DeploymentCapacity":
        samples = _capacity_samples(state, resource_id, start, end, step)
    else:
        samples = state.metrics.select(resource_id, source, start, end)
    aggregations = asked or [definition.primary]
    counter = name in ("RequestsPerMinute", "DataCollectionEventsPerMinute", "DataCollectionErrorsPerMinute")
    timeseries = []
    for key, group in sorted(_series(samples, filters, definition).items()):
        data = []
        bucket = start
        while bucket < end:
            values = [s.value for s in group if bucket <= s.at < bucket + step]
            data.append({"timeStamp": _iso(bucket), **_point(values, aggregations, definition, counter)})
            bucket += step
        timeseries.append(
            {
                "metadatavalues": [
                    {"name": {"value": dim.lower(), "localizedValue": dim}, "value": value}
                    for dim, value in key
                ],
                "data": data,
            }
        )
    return {
        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{name}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": name, "localizedValue": definition.localized},
        "displayDescription": definition.description,
        "unit": definition.unit,
        "timeseries": timeseries,
        "errorCode": "Success",
    }


def _top(series: list[dict[str, Any]], top: int, aggregation: str | None) -> list[dict[str, Any]]:
    """The `top` series with the largest sum of the (first asked) aggregation, largest first."""

    def weight(one: dict[str, Any]) -> float:
        return sum(
            float(point.get(aggregation or "", 0.0) or 0.0)
            if aggregation
            else sum(float(v) for k, v in point.items() if k != "timeStamp")
            for point in one["data"]
        )

    return sorted(series, key=weight, reverse=True)[: max(top, 0)]


def register(router: Router, state: EmulatorState) -> None:
    start_sampler(state)
    router.add(
        "GET",
        r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+"
        r"/onlineEndpoints/[^/]+(?:/deployments/[^/]+)?/providers/Microsoft\.Insights/metrics",
        lambda r: metrics(state, r),
    )
