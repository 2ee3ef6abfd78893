"""`stats --endpoint-logs`: the one summarizing KQL over AmlOnlineEndpointTrafficLog and its rows."""

from __future__ import annotations

import datetime as dt

from amlmon import kql
from amlmon.endpoint_stats import build, traffic_query
from amlmon.stats import Window
from amlmon.targets import Target

WINDOW = Window(
    dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 30, 11, tzinfo=dt.UTC),
    dt.timedelta(minutes=5),
)


def test_query_filters_each_target_and_summarizes_in_the_service() -> None:
    text = traffic_query([Target("credit-ep", "blue"), Target("other-ep")], WINDOW)
    assert f"(EndpointName == {kql.string('credit-ep')} and DeploymentName == {kql.string('blue')})" in text
    assert f"or (EndpointName == {kql.string('other-ep')})" in text
    assert "countif(ResponseCode >= 500)" in text and "percentile(TotalDurationMs, 95)" in text
    assert "| where EndpointName" not in traffic_query([], WINDOW)


def test_rows_become_per_deployment_health_and_a_silent_deployment_counts_zero() -> None:
    rows = [
        {
            "rowType": "total",
            "targetName": "ep/blue",
            "requestCount": 4,
            "failures": 1,
            "clientErrors": 1,
            "modelFailures": 1,
            "p50": 12.0,
            "p95": 40.5,
            "p99": 41.0,
            "modelP95": 39.0,
            "maxRequestThrottleMs": 0,
            "maxResponseThrottleMs": 3,
            "requestBytes": 100,
            "responseBytes": 80,
        },
        {"rowType": "code", "targetName": "ep/blue", "code": 200, "requestCount": 2},
        {"rowType": "code", "targetName": "ep/blue", "code": 500, "requestCount": 1},
        {"rowType": "code", "targetName": "ep/blue", "code": 404, "requestCount": 1},
    ]
    result = build(rows, WINDOW, [Target("ep", "blue"), Target("ep", "green")])
    blue, green = result["targets"]
    assert blue["target"] == "ep/blue" and blue["requests"]["failureRate"] == 0.25
    assert blue["requests"]["codes"] == {"200": 2, "404": 1, "500": 1}
    assert blue["throttling"] == {"maxRequestDelayMs": 0, "maxResponseDelayMs": 3, "maxDelayMs": 3}
    assert green["target"] == "ep/green" and green["requests"]["count"] == 0
    assert green["requests"]["failureRate"] is None


def test_a_target_without_traffic_is_there_with_zero_requests() -> None:
    assert [t["target"] for t in build([], WINDOW, [Target("quiet-ep")])["targets"]] == ["quiet-ep"]
    assert [t["target"] for t in build([], WINDOW, [])["targets"]] == ["*"]
    assert build([], WINDOW, [])["targets"][0]["throttling"]["maxDelayMs"] is None


def test_without_target_each_listed_deployment_is_there_beside_those_with_rows() -> None:
    rows = [{"targetName": "gone-ep/old", "rowType": "total", "requestCount": 3, "failures": 0}]
    listed = [Target("ep", "blue"), Target("ep", "green")]
    result = build(rows, WINDOW, [], listed)
    counts = {t["target"]: t["requests"]["count"] for t in result["targets"]}
    # a deleted deployment's rows stay; the workspace's deployments without rows show 0; no `*`
    assert counts == {"ep/blue": 0, "ep/green": 0, "gone-ep/old": 3}
    assert [t["target"] for t in build([], WINDOW, [], [])["targets"]] == ["*"]
