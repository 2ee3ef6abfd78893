"""Reading the endpoint log tables: the KQL amlmon sends (values escaped, the endpoint matched in
`_ResourceId`, the rows projected onto the traces row so the one tail engine reads them) and rows →
lines (secrets a script printed redacted)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon import kql
from amlmon.azure.logs import QueryResult, Table
from amlmon.endpoint_logs import LogFilter, as_dict, line, redacted
from amlmon.queries.traces import follow_query, window_query
from amlmon.schema import TRACE_ROW
from amlmon.targets import Target
from amlmon.telemetry import events_from

START = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)


def test_query_matches_the_endpoint_in_resource_id_and_follow_bounds_ingestion() -> None:
    spec = LogFilter((Target("credit-ep", "blue"),), START, None, events=True).trace_filter()
    text = follow_query(spec, "log-analytics", ingested_after=START, arrived_from=START)
    assert text.startswith("AmlOnlineEndpointEventLog\n")
    assert f"_ResourceId endswith {kql.string('/onlineendpoints/credit-ep')}" in text
    assert f"DeploymentName == {kql.string('blue')}" in text and 'bag_pack("name", Name)' in text
    assert f"ingestion_time() > {kql.datetime(START)}" in text and "order by ingested asc" in text
    window_spec = LogFilter((Target("credit-ep"),), START, START + dt.timedelta(hours=1)).trace_filter()
    window = window_query(window_spec, "log-analytics")
    assert window.startswith("AmlOnlineEndpointConsoleLog\n") and "DeploymentName ==" not in window
    assert "order by timestamp asc" in window and "TimeGenerated <" in window
    assert 'bag_pack("container", ContainerName)' in window
    assert f"strcat({kql.string('credit-ep/')}, DeploymentName)" in window, "a bare endpoint: ep/deployment"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    st.text(min_size=1, max_size=40).filter(
        lambda t: all(c >= " " and c != "\x7f" for c in t)
    ),  # no controls: kql.string refuses them
)
def test_target_values_reach_kql_only_as_escaped_literals(endpoint: str, deployment: str, grep: str) -> None:
    import dataclasses

    spec = LogFilter((Target(endpoint, deployment),), START, None).trace_filter()
    text = window_query(dataclasses.replace(spec, message=grep), "log-analytics")
    assert kql.string("/onlineendpoints/" + endpoint) in text and kql.string(deployment) in text
    assert f"Message contains_cs {kql.string(grep)}" in text


def test_rows_become_lines_with_the_target_and_secrets_redacted() -> None:
    columns = [*TRACE_ROW.columns(), TRACE_ROW.target]
    rows = [
        [
            "2026-11-30T10:00:01Z",
            "2026-11-30T10:00:02Z",
            "id-1",
            "conn DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;",
            None,
            "blue",
            "blue-1",
            "",
            '{"container":"inference-server"}',
            "credit-ep/blue",
        ],
    ]
    result = QueryResult([Table("PrimaryResult", columns, ["string"] * len(columns), rows)])
    spec = LogFilter((Target("credit-ep", "blue"),), START, None)
    (event,) = redacted(events_from(result, model_data=False))
    assert (event.target, event.instance, event.item_id) == ("credit-ep/blue", "blue-1", "id-1")
    assert "c2VjcmV0" not in event.message and "AccountKey=***" in event.message
    assert line(event, spec) == (
        "2026-11-30T10:00:01.000Z credit-ep/blue blue-1 inference-server: " + event.message
    )
    assert as_dict(event, spec)["container"] == "inference-server"
