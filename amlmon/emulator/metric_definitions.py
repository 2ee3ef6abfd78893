"""The platform metrics an online endpoint and a deployment publish: names, units, primary aggregation and
dimensions as Azure Monitor's metric definitions list them (a table, read by platform_metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    localized: str
    description: str
    unit: str
    primary: str  # the aggregation answered when none is asked for
    dimensions: tuple[str, ...]
    percentile: float | None = None  # computed from RequestLatency samples


_COLLECTION_DIMS = ("deployment", "reason", "type")
ENDPOINT_METRICS: dict[str, Definition] = {
    "RequestsPerMinute": Definition(
        "Requests Per Minute",
        "The number of requests sent to the online endpoint within a minute",
        "Count",
        "total",
        ("deployment", "statusCode", "statusCodeClass", "modelStatusCode"),
    ),
    "RequestLatency": Definition(
        "Request Latency",
        "The complete interval of time to respond to a request",
        "MilliSeconds",
        "average",
        ("deployment",),
    ),
    **{
        f"RequestLatency_P{p}": Definition(
            f"Request Latency P{p}",
            f"The {p}th percentile of the request latency",
            "MilliSeconds",
            "average",
            ("deployment",),
            float(p),
        )
        for p in (50, 90, 95, 99)
    },
    "ConnectionsActive": Definition(
        "Active connection count", "The total number of concurrent TCP connections", "Count", "average", ()
    ),
    "NewConnectionsPerSecond": Definition(
        "New connections per second",
        "The average number of new TCP connections per second",
        "Count",
        "average",
        (),
    ),
    "NetworkBytes": Definition(
        "Network bytes", "The bytes per second served for the endpoint", "BytesPerSecond", "average", ()
    ),
    "DataCollectionEventsPerMinute": Definition(
        "Data Collection Events Per Minute",
        "The number of data collection events processed per minute",
        "Count",
        "total",
        _COLLECTION_DIMS,
    ),
    "DataCollectionErrorsPerMinute": Definition(
        "Data Collection Errors Per Minute",
        "The number of data collection events dropped per minute",
        "Count",
        "total",
        _COLLECTION_DIMS,
    ),
}
_INSTANCE_COLLECTION = ("instanceId", "reason", "type")
DEPLOYMENT_METRICS: dict[str, Definition] = {
    "CpuUtilizationPercentage": Definition(
        "CPU Utilization Percentage", "Percentage of CPU utilization", "Percent", "average", ("instanceId",)
    ),
    "CpuMemoryUtilizationPercentage": Definition(
        "CPU Memory Utilization Percentage",
        "Percentage of memory utilization",
        "Percent",
        "average",
        ("instanceId",),
    ),
    "DiskUtilization": Definition(
        "Disk Utilization", "Percentage of disk utilization", "Percent", "average", ("instanceId", "disk")
    ),
    "GpuUtilizationPercentage": Definition(
        "GPU Utilization Percentage", "Percentage of GPU utilization", "Percent", "average", ("instanceId",)
    ),
    "GpuMemoryUtilizationPercentage": Definition(
        "GPU Memory Utilization Percentage",
        "Percentage of GPU memory utilization",
        "Percent",
        "average",
        ("instanceId",),
    ),
    "DeploymentCapacity": Definition(
        "Deployment Capacity",
        "The number of instances in the deployment",
        "Count",
        "average",
        ("instanceId", "State"),
    ),
    "DataCollectionEventsPerMinute": Definition(
        "Data Collection Events Per Minute",
        "The number of data collection events processed per minute",
        "Count",
        "total",
        _INSTANCE_COLLECTION,
    ),
    "DataCollectionErrorsPerMinute": Definition(
        "Data Collection Errors Per Minute",
        "The number of data collection events dropped per minute",
        "Count",
        "total",
        _INSTANCE_COLLECTION,
    ),
}
