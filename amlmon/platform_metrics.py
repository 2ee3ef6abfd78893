"""`amlmon stats --metrics` / `check --max-cpu …`: v2 health from Azure Monitor platform metrics.

Platform metrics need no setup (no diagnostic setting, no App Insights): every managed online
endpoint and deployment publishes them. amlmon reads them with ONE Metrics_List call per resource
carrying every metric name, at interval FULL, so the service aggregates the whole window into one
data point per series (total requests, the window's latency percentiles, average and peak CPU);
nothing is summed or averaged from downloaded per-minute rows.

  endpoint    RequestsPerMinute (total, split by deployment and statusCodeClass), RequestLatency
              (average, maximum) and RequestLatency_P50/_P90/_P95/_P99, DataCollectionEventsPerMinute
              and DataCollectionErrorsPerMinute (total, by deployment)
  deployment  CpuUtilizationPercentage, CpuMemoryUtilizationPercentage (average, maximum over the
              instances), DeploymentCapacity (average)

A failure is a request answered 5xx (statusCodeClass), as in the traffic log's gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.targets import Target

if TYPE_CHECKING:
    from amlmon.context import AppContext
    from amlmon.gate import Threshold
    from amlmon.stats import Window

ENDPOINT_METRICS = (
    "RequestsPerMinute",
    "RequestLatency",
    "RequestLatency_P50",
    "RequestLatency_P90",
    "RequestLatency_P95",
    "RequestLatency_P99",
    "DataCollectionEventsPerMinute",
    "DataCollectionErrorsPerMinute",
)
ENDPOINT_AGGREGATIONS = ("total", "average", "maximum")
ENDPOINT_FILTER = "deployment eq '*' and statusCodeClass eq '*'"
DEPLOYMENT_METRICS = ("CpuUtilizationPercentage", "CpuMemoryUtilizationPercentage", "DeploymentCapacity")
DEPLOYMENT_AGGREGATIONS = ("average", "maximum")
UNSUPPORTED = {
    "maxExceptions": "--max-exceptions",
    "maxDependencyFailureRate": "--max-dependency-failure-rate",
}


@dataclass(frozen=True)
class Point:
    """One metric series' single data point over the window, with its dimensions (lower-case names)."""

    metric: str
    dims: dict[str, str]
    values: dict[str, float]


def _points(answer: dict[str, Any]) -> list[Point]:
    found = []
    for metric in answer.get("value") or []:
        name = str((metric.get("name") or {}).get("value") or "")
        for series in metric.get("timeseries") or []:
            dims = {
                str((m.get("name") or {}).get("value") or "").lower(): str(m.get("value") or "")
                for m in series.get("metadatavalues") or []
            }
            for data in series.get("data") or []:
                values = {
                    key: float(data[key])
                    for key in ("average", "total", "maximum", "minimum", "count")
                    if data.get(key) is not None
                }
                found.append(Point(name, dims, values))
    return found


def _resources(ctx: AppContext, targets: Sequence[Target]) -> dict[str, list[str]]:
    """Endpoint → its deployments to report (a bare endpoint: all of them, as the workspace lists)."""
    from amlmon.azure import deployments_v2

    wanted: dict[str, list[str]] = {}
    named = list(targets) or [Target(str(e.get("name"))) for e in deployments_v2.list_endpoints(ctx.v2_scope)]
    for target in named:
        chosen = wanted.setdefault(target.name, [])
        if target.deployment:
            names = [target.deployment]
        else:
            names = sorted(
                str(d.get("name")) for d in deployments_v2.list_deployments(ctx.v2_scope, target.name)
            )
        chosen.extend(n for n in names if n not in chosen)
    return wanted


def _sum(points: list[Point], metric: str, key: str, **dims: str) -> float:
    return sum(
        p.values.get(key, 0.0)
        for p in points
        if p.metric == metric and all(p.dims.get(k.lower()) == v for k, v in dims.items())
    )


def _one(points: list[Point], metric: str, key: str, **dims: str) -> float | None:
    for p in points:
        if (
            p.metric == metric
            and all(p.dims.get(k.lower()) == v for k, v in dims.items())
            and key in p.values
        ):
            return round(p.values[key], 3)
    return None


def _deployment_stats(
    name: str, deployment: str, endpoint: list[Point], instance: list[Point], minutes: float
) -> dict[str, Any]:
    count = int(_sum(endpoint, "RequestsPerMinute", "total", deployment=deployment))
    classes: dict[str, int] = {}
    for p in endpoint:
        if p.metric == "RequestsPerMinute" and p.dims.get("deployment") == deployment:
            cls = p.dims.get("statuscodeclass", "")
            classes[cls] = classes.get(cls, 0) + int(p.values.get("total", 0))
    failures = classes.get("5xx", 0)
    latency = {
        f"p{p}": _one(endpoint, f"RequestLatency_P{p}", "average", deployment=deployment)
        for p in (50, 90, 95, 99)
    }
    return {
        "target": f"{name}/{deployment}",
        "requests": {
            "count": count,
            "failures": failures,
            "failureRate": round(failures / count, 6) if count else None,
            "perMinute": round(count / minutes, 3) if minutes else None,
            "byStatusCodeClass": {k: v for k, v in sorted(classes.items()) if v},
            **latency,
            "averageMs": _one(endpoint, "RequestLatency", "average", deployment=deployment),
            "maxMs": _one(endpoint, "RequestLatency", "maximum", deployment=deployment),
        },
        "cpu": {
            "averagePercent": _one(instance, "CpuUtilizationPercentage", "average"),
            "maxPercent": _one(instance, "CpuUtilizationPercentage", "maximum"),
        },
        "memory": {
            "averagePercent": _one(instance, "CpuMemoryUtilizationPercentage", "average"),
            "maxPercent": _one(instance, "CpuMemoryUtilizationPercentage", "maximum"),
        },
        "capacity": {"instances": _one(instance, "DeploymentCapacity", "average")},
        "dataCollection": {
            "events": int(_sum(endpoint, "DataCollectionEventsPerMinute", "total", deployment=deployment)),
            "errors": int(_sum(endpoint, "DataCollectionErrorsPerMinute", "total", deployment=deployment)),
        },
    }


def collect(ctx: AppContext, targets: Sequence[Target], window: Window) -> dict[str, Any]:
    from amlmon.azure import deployments_v2
    from amlmon.azure.metrics import list_metrics

    minutes = window.seconds / 60
    results = []
    for endpoint, deployments in _resources(ctx, targets).items():
        answer = list_metrics(
            ctx.monitor_client,
            deployments_v2.endpoint_path(ctx.v2_scope, endpoint),
            ENDPOINT_METRICS,
            start=window.start,
            end=window.end,
            aggregation=ENDPOINT_AGGREGATIONS,
            filter=ENDPOINT_FILTER,
        )
        endpoint_points = _points(answer)
        for deployment in deployments:
            instance_points = _points(
                list_metrics(
                    ctx.monitor_client,
                    deployments_v2.deployment_path(ctx.v2_scope, endpoint, deployment),
                    DEPLOYMENT_METRICS,
                    start=window.start,
                    end=window.end,
                    aggregation=DEPLOYMENT_AGGREGATIONS,
                )
            )
            results.append(_deployment_stats(endpoint, deployment, endpoint_points, instance_points, minutes))
    return {
        "source": "platform-metrics",
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "seconds": window.seconds,
        },
        "targets": results,
    }


def requests_text(targets: Sequence[Target], window: Window) -> str:
    """`--print-query`: the Metrics_List requests amlmon sends (one per resource)."""
    from amlmon.azure.metrics import API_VERSION

    timespan = f"{window.start.isoformat()}/{window.end.isoformat()}"
    lines = []
    for target in targets or [Target("{endpoint}")]:
        resource = f"…/onlineEndpoints/{target.name}"
        lines.append(
            f"GET {resource}/providers/Microsoft.Insights/metrics?api-version={API_VERSION}"
            f"&metricnames={','.join(ENDPOINT_METRICS)}&timespan={timespan}&interval=FULL"
            f"&aggregation={','.join(ENDPOINT_AGGREGATIONS)}&$filter={ENDPOINT_FILTER}"
        )
        deployment = target.deployment or "{deployment}"
        lines.append(
            f"GET {resource}/deployments/{deployment}/providers/Microsoft.Insights/metrics?api-version={API_VERSION}"
            f"&metricnames={','.join(DEPLOYMENT_METRICS)}&timespan={timespan}&interval=FULL"
            f"&aggregation={','.join(DEPLOYMENT_AGGREGATIONS)}"
        )
    return "\n".join(lines)


# --- the gate --------------------------------------------------------------------------------------


def _percent_of(section: str) -> Any:
    def read(stats: dict[str, Any]) -> float | None:
        value = (stats.get(section) or {}).get("maxPercent")
        return None if value is None else float(value) / 100

    return read


def metric_thresholds(
    max_cpu: str | None, max_memory: str | None, max_collection_errors: str | None
) -> list[Threshold]:
    """--max-cpu / --max-memory (the peak over the window, e.g. 80%) and --max-collection-errors."""
    from amlmon.gate import Threshold, format_count, format_rate, parse_count, parse_rate, reading

    found = []
    if max_cpu is not None:
        limit = parse_rate(max_cpu, option="--max-cpu")
        found.append(
            Threshold(
                "maxCpu", "peak CPU", "max", limit, _percent_of("cpu"), format_rate, needs_requests=False
            )
        )
    if max_memory is not None:
        limit = parse_rate(max_memory, option="--max-memory")
        found.append(
            Threshold(
                "maxMemory",
                "peak memory",
                "max",
                limit,
                _percent_of("memory"),
                format_rate,
                needs_requests=False,
            )
        )
    if max_collection_errors is not None:
        count = float(parse_count(max_collection_errors, option="--max-collection-errors"))
        found.append(
            Threshold(
                "maxCollectionErrors",
                "data collection errors",
                "max",
                count,
                reading("dataCollection.errors"),
                format_count,
                needs_requests=False,
            )
        )
    return found


def check(
    ctx: AppContext,
    targets: Sequence[Target],
    window: Window,
    thresholds: list[Threshold],
) -> dict[str, Any]:
    """The verdict of the request thresholds and the metric ones on the platform metrics."""
    from amlmon.errors import UsageError
    from amlmon.gate import evaluate

    for threshold in thresholds:
        if threshold.name in UNSUPPORTED:
            raise UsageError(
                f"{UNSUPPORTED[threshold.name]} is not in the platform metrics",
                hint="drop it, or gate without --metrics",
            )
    return evaluate(_collect_for_gate(ctx, targets, window), thresholds)


def _collect_for_gate(ctx: AppContext, targets: Sequence[Target], window: Window) -> dict[str, Any]:
    """A service error is "the gate could not be evaluated" (exit 6), never a breach."""
    from amlmon.gate import evaluable

    return evaluable(lambda: collect(ctx, targets, window), "the metrics service")
