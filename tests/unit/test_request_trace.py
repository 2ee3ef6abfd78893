"""`traces --request ID`: the id reaches KQL only as an escaped literal, and collector records match on
the fields the real collector writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon import kql
from amlmon.request_trace import app_insights_query, collector_entries, traffic_query

IDS = st.text(min_size=1, max_size=60).filter(lambda t: all(c >= " " and c != "\x7f" for c in t))


@settings(max_examples=300, deadline=None)
@given(IDS)
def test_the_request_id_reaches_kql_only_as_escaped_literals(request_id: str) -> None:
    assert f"XRequestId == {kql.string(request_id)}" in traffic_query(request_id)
    text = app_insights_query(request_id)
    assert text.count(f'tostring(customDimensions["Request Id"]) == {kql.string(request_id)}') == 3
    assert kql.string(f"'Request Id': {request_id!r}") in text


def test_collector_records_match_on_xrequestid_or_correlationid() -> None:
    records = [
        ("a.jsonl", {"type": "azureml.inference.model_inputs", "xrequestid": "r1", "data": [{}, {}]}),
        ("b.jsonl", {"type": "azureml.inference.model_outputs", "correlationid": "r1", "data": [{}]}),
        ("c.jsonl", {"type": "azureml.inference.model_inputs", "xrequestid": "r2", "correlationid": "x"}),
    ]
    found = list(collector_entries(records, "r1"))
    assert [(e.kind, e.summary) for e in found] == [
        ("model_inputs", "model_inputs: 2 rows (a.jsonl)"),
        ("model_outputs", "model_outputs: 1 row (b.jsonl)"),
    ]
