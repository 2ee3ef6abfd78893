"""Reading the endpoint log tables: the KQL amlmon sends (values escaped, the endpoint matched in
`_ResourceId`) and rows → lines (endpoint from `_ResourceId`, secrets a script printed redacted)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon import kql
from amlmon.azure.logs import QueryResult, Table
from amlmon.endpoint_logs import LogFilter, events_from, line, query
from amlmon.targets import Target

START = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
COLUMNS = [
    "TimeGenerated",
    "ingested",
    "itemId",
    "endpointId",
    "DeploymentName",
    "InstanceId",
    "detail",
    "Message",
]


def test_query_matches_the_endpoint_in_resource_id_and_follow_bounds_ingestion() -> None:
    spec = LogFilter((Target("credit-ep", "blue"),), START, None, events=True)
    text = query(spec, ingested_after=START, follow_from=START)
    assert text.startswith("AmlOnlineEndpointEventLog\n")
    assert f"_ResourceId endswith {kql.string('/onlineEndpoints/credit-ep')}" in text
    assert f"DeploymentName == {kql.string('blue')}" in text
    assert f"ingestion_time() > {kql.datetime(START)}" in text and "order by ingested asc" in text
    window = query(LogFilter((Target("credit-ep"),), START, START + dt.timedelta(hours=1)))
    assert window.startswith("AmlOnlineEndpointConsoleLog\n") and "DeploymentName ==" not in window
    assert "order by TimeGenerated asc" in window and "TimeGenerated <" in window


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
)
def test_target_values_reach_kql_only_as_escaped_literals(endpoint: str, deployment: str) -> None:
    text = query(LogFilter((Target(endpoint, deployment),), START, None))
    assert kql.string("/onlineEndpoints/" + endpoint) in text and kql.string(deployment) in text


def test_rows_become_lines_with_the_endpoint_from_resource_id_and_secrets_redacted() -> None:
    resource = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/WS/ONLINEENDPOINTS/CREDIT-EP"
    rows = [
        [
            "2026-11-30T10:00:01Z",
            "2026-11-30T10:00:02Z",
            "id-1",
            resource,
            "blue",
            "blue-1",
            "inference-server",
            "conn DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;",
        ],
    ]
    result = QueryResult([Table("PrimaryResult", COLUMNS, ["string"] * len(COLUMNS), rows)])
    spec = LogFilter((Target("credit-ep", "blue"),), START, None)
    (event,) = events_from(result, spec)
    assert (event.target, event.instance, event.item_id) == ("credit-ep/blue", "blue-1", "id-1")
    assert "c2VjcmV0" not in event.message and "AccountKey=***" in event.message
    assert line(event, spec) == (
        "2026-11-30T10:00:01.000Z credit-ep/blue blue-1 inference-server: " + event.message
    )
