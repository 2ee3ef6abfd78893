"""`stats --endpoint-logs`: the one summarizing KQL over AmlOnlineEndpointTrafficLog and its rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from amlmon import kql
from amlmon.endpoint_stats import TABLE, build, traffic_query
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


# --- the query run on the traffic table's own columns (duckdb-kql, as the emulator runs it) -----------
# (endpoint, deployment, ResponseCode, ModelStatusCode, TotalDurationMs, ResponseDurationMs,
#  request throttle ms, request bytes) per request; `other/x` is traffic the filter must skip.
TRAFFIC_ROWS = [
    ("ep", "blue", 200, 200, 10, 8, 0, 100),
    ("ep", "blue", 200, 200, 30, 27, 0, 120),
    ("ep", "blue", 500, 500, 50, 47, 0, 90),
    ("ep", "blue", 429, 0, 5, 0, 12, 60),
    ("ep", "green", 200, 200, 70, 66, 0, 80),
    ("ep", "green", 503, 503, 90, 85, 0, 70),
    ("other", "x", 500, 500, 999, 990, 40, 1),
]


def _traffic_db() -> Any:
    import duckdb

    from amlmon.emulator.endpoint_tables import ENDPOINT_TABLES

    con = duckdb.connect()
    columns = ENDPOINT_TABLES[TABLE]
    con.execute(f"create table {TABLE} ({', '.join(f'{name} {kind}' for name, kind in columns)})")
    at = (WINDOW.start + dt.timedelta(minutes=10)).replace(tzinfo=None)
    for ep, dep, code, model, total_ms, model_ms, throttle, size in TRAFFIC_ROWS:
        given = {
            "TimeGenerated": at,
            "EndpointName": ep,
            "DeploymentName": dep,
            "ResponseCode": code,
            "ModelStatusCode": model,
            "TotalDurationMs": total_ms,
            "ResponseDurationMs": model_ms,
            "RequestThrottlingDelayMs": throttle,
            "ResponseThrottlingDelayMs": 0,
            "RequestPayloadSize": size,
            "ResponsePayloadSize": 10,
        }
        con.execute(
            f"insert into {TABLE} values ({', '.join('?' * len(columns))})",
            [given.get(name) for name, _ in columns],
        )
    return con


def _stats_of(targets: list[Target], window: Window = WINDOW) -> dict[str, dict[str, Any]]:
    import duckdb_kql

    cursor = duckdb_kql.query(_traffic_db(), traffic_query(targets, window))
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return {item["target"]: item for item in build(rows, window, targets)["targets"]}


def _nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


def test_one_deployment_and_several_give_each_deployment_the_same_numbers() -> None:
    """One EP/DEP target is summarized without grouping by the names (the filter pins them), several
    are grouped by EndpointName, DeploymentName: both name the rows ep/DEP with the same numbers."""
    alone = _stats_of([Target("ep", "blue")])
    both = _stats_of([Target("ep", "blue"), Target("ep", "green")])
    endpoint = _stats_of([Target("ep")])
    assert set(alone) == {"ep/blue"} and set(both) == set(endpoint) == {"ep/blue", "ep/green"}
    assert alone["ep/blue"] == both["ep/blue"] == endpoint["ep/blue"]
    for name, item in both.items():
        mine = [row for row in TRAFFIC_ROWS if f"{row[0]}/{row[1]}" == name]
        requests = item["requests"]
        assert requests["count"] == len(mine)
        assert requests["failures"] == sum(row[2] >= 500 for row in mine)
        assert requests["clientErrors"] == sum(400 <= row[2] < 500 for row in mine)
        assert requests["codes"] == {
            str(c): sum(row[2] == c for row in mine) for c in {row[2] for row in mine}
        }
        durations = [row[4] for row in mine]
        assert [requests[f"p{p}"] for p in (50, 95, 99)] == [
            _nearest_rank(durations, p) for p in (50, 95, 99)
        ]
        assert requests["modelP95"] == _nearest_rank([row[5] for row in mine], 95)
        assert item["throttling"]["maxRequestDelayMs"] == max(row[6] for row in mine)
        assert item["payloadBytes"]["request"] == sum(row[7] for row in mine)
    assert alone["ep/blue"]["requests"]["codes"] == {"200": 2, "429": 1, "500": 1}  # the control: 3 codes


def test_one_deployment_without_traffic_reads_as_no_rows() -> None:
    """Summarized without `by`, an empty window still answers one total row (count 0): it must read
    exactly as no rows at all (the grouped shape's answer)."""
    later = Window(WINDOW.end + dt.timedelta(hours=1), WINDOW.end + dt.timedelta(hours=2), WINDOW.bin)
    quiet = _stats_of([Target("ep", "blue")], later)
    assert quiet == {item["target"]: item for item in build([], later, [Target("ep", "blue")])["targets"]}
    assert quiet["ep/blue"]["requests"]["count"] == 0 and quiet["ep/blue"]["throttling"]["maxDelayMs"] is None
    assert _stats_of([Target("ep", "blue")])["ep/blue"]["requests"]["count"] == 4  # the control


def test_without_target_each_listed_deployment_is_there_beside_those_with_rows() -> None:
    rows = [{"targetName": "gone-ep/old", "rowType": "total", "requestCount": 3, "failures": 0}]
    listed = [Target("ep", "blue"), Target("ep", "green")]
    result = build(rows, WINDOW, [], listed)
    counts = {t["target"]: t["requests"]["count"] for t in result["targets"]}
    # a deleted deployment's rows stay; the workspace's deployments without rows show 0; no `*`
    assert counts == {"ep/blue": 0, "ep/green": 0, "gone-ep/old": 3}
    assert [t["target"] for t in build([], WINDOW, [], [])["targets"]] == ["*"]
