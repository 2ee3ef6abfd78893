"""Contract tests of the emulator's Log Analytics query API through the real LogsQueryClient over HTTPS:
shapes and types, errors with position, scoping, timespan, late rows, Prefer: wait, 401, faults."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, cast

import pytest

from tests.conftest import Emulator
from tests.helpers import SLOW_KQL, logs_client


def _trace(message: str, when: dt.datetime, role: str = "svc") -> dict[str, Any]:
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": when.isoformat().replace("+00:00", "Z"),
        "tags": {"ai.cloud.role": role, "ai.operation.id": "0" * 32},
        "data": {
            "baseType": "MessageData",
            "baseData": {"ver": 2, "message": message, "severityLevel": "1", "properties": {"n": "7"}},
        },
    }


def _insert(emulator: Emulator, key: str, envelopes: list[Any], ingested: dt.datetime | None = None) -> None:
    body: dict[str, Any] = {"instrumentationKey": key, "envelopes": envelopes}
    if ingested is not None:
        body["ingestedAt"] = ingested.isoformat().replace("+00:00", "Z")
    status, answer = emulator.admin("POST", "/_emulator/telemetry/rows", body)
    assert status == 200 and answer["itemsAccepted"] == len(envelopes), answer


NOW = dt.datetime.now(dt.UTC)


def test_types_and_shapes_through_resource_and_workspace(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    _insert(emulator, ws["instrumentationKey"], [_trace("hello", NOW - dt.timedelta(minutes=5))])
    client = logs_client(emulator)
    result = client.query_resource(
        ws["appInsightsId"],
        "traces | project timestamp, message, severityLevel, customDimensions, cloud_RoleName, "
        "n=toint(customDimensions.n), r=1.5, b=true, l=tolong(2)",
        timespan=dt.timedelta(hours=1),
    )
    table = result.tables[0]
    assert table.name == "PrimaryResult"
    types = dict(zip(table.columns, table.columns_types, strict=False))
    assert types["timestamp"] == "datetime" and types["message"] == "string"
    assert types["customDimensions"] == "dynamic" and types["r"] == "real" and types["b"] == "bool"
    row = table.rows[0]
    assert row["message"] == "hello" and row["cloud_RoleName"] == "svc"
    assert row["severityLevel"] == 1 and row["n"] == 7 and row["b"] is True and row["l"] == 2
    assert isinstance(row["timestamp"], dt.datetime)
    assert json.loads(row["customDimensions"]) == {"n": "7"}
    workspace = client.query_workspace(
        ws["customerId"],
        "AppTraces | project TimeGenerated, Message, AppRoleName, Properties",
        timespan=dt.timedelta(hours=1),
    )
    assert [list(r)[1:3] for r in workspace.tables[0].rows] == [["hello", "svc"]]


def test_scoping_other_component_rows_are_invisible(emulator: Emulator) -> None:
    first, second = emulator.create_workspace("logs"), emulator.create_workspace("logs")
    _insert(emulator, first["instrumentationKey"], [_trace("mine", NOW - dt.timedelta(minutes=1))])
    client = logs_client(emulator)
    counts = client.query_resource(second["appInsightsId"], "traces | count", timespan=dt.timedelta(days=1))
    assert counts.tables[0].rows[0][0] == 0
    counts = client.query_workspace(second["customerId"], "AppTraces | count", timespan=dt.timedelta(days=1))
    assert counts.tables[0].rows[0][0] == 0
    counts = client.query_workspace(first["customerId"], "AppTraces | count", timespan=dt.timedelta(days=1))
    assert counts.tables[0].rows[0][0] == 1


def test_timespan_limits_rows(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    _insert(
        emulator,
        ws["instrumentationKey"],
        [_trace("old", NOW - dt.timedelta(hours=5)), _trace("new", NOW - dt.timedelta(minutes=10))],
    )
    client = logs_client(emulator)
    rows = client.query_resource(
        ws["appInsightsId"], "traces | project message", timespan=dt.timedelta(hours=1)
    )
    assert [r[0] for r in rows.tables[0].rows] == ["new"]
    window = (NOW - dt.timedelta(hours=6), NOW - dt.timedelta(hours=4))
    rows = client.query_resource(ws["appInsightsId"], "traces | project message", timespan=window)
    assert [r[0] for r in rows.tables[0].rows] == ["old"]


def test_late_rows_are_invisible_until_ingested_and_ingestion_time_works(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    _insert(emulator, ws["instrumentationKey"], [_trace("now", NOW - dt.timedelta(minutes=2))])
    _insert(
        emulator,
        ws["instrumentationKey"],
        [_trace("late", NOW - dt.timedelta(minutes=2))],
        ingested=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    client = logs_client(emulator)
    rows = client.query_resource(
        ws["appInsightsId"],
        "traces | extend it = ingestion_time() | project message, it",
        timespan=dt.timedelta(hours=1),
    )
    assert [r[0] for r in rows.tables[0].rows] == ["now"]
    assert rows.tables[0].rows[0][1] >= NOW - dt.timedelta(minutes=1)


def test_syntax_and_semantic_errors_carry_codes_and_position(emulator: Emulator) -> None:
    from azure.core.exceptions import HttpResponseError

    ws = emulator.create_workspace("logs")
    client = logs_client(emulator)
    with pytest.raises(HttpResponseError) as syntax:
        client.query_workspace(ws["customerId"], "AppTraces | invalid", timespan=None)
    assert syntax.value.status_code == 400
    body = cast(Any, syntax.value.response).json()["error"]
    assert body["code"] == "BadArgumentError" and body["innererror"]["code"] == "SyntaxError"
    innermost = body["innererror"]["innererror"]
    assert innermost["code"] == "SYN0002" and innermost["line"] == 1 and isinstance(innermost["pos"], int)
    with pytest.raises(HttpResponseError) as semantic:
        client.query_workspace(ws["customerId"], "NoSuchTable | take 1", timespan=None)
    body = cast(Any, semantic.value.response).json()["error"]
    assert body["innererror"]["code"] == "SemanticError"
    assert body["innererror"]["innererror"]["code"] == "SEM0100"


def test_unknown_workspace_is_404(emulator: Emulator) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as err:
        logs_client(emulator).query_workspace(str(uuid.uuid4()), "AppTraces | count", timespan=None)
    assert err.value.status_code == 404


def _raw_post(
    emulator: Emulator, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        emulator.endpoint + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    context = ssl.create_default_context(cafile=emulator.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_no_token_is_401(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    status, _, _ = _raw_post(emulator, f"/v1/workspaces/{ws['customerId']}/query", {"query": "AppTraces"}, {})
    assert status == 401


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429, "retryAfter": 0, "count": 2},
        {"kind": "status", "status": 503, "count": 1},
        {"kind": "reset", "count": 1},
    ],
)
@pytest.mark.usefixtures("clear_faults")
def test_sdk_retries_survive_faults(emulator: Emulator, fault: dict[str, Any]) -> None:
    ws = emulator.create_workspace("logs")
    _insert(emulator, ws["instrumentationKey"], [_trace("x", NOW - dt.timedelta(minutes=1))])
    status, rule = emulator.admin(
        "POST", "/_emulator/faults", {**fault, "path": f"/v1/workspaces/{ws['customerId']}/query"}
    )
    assert status in (200, 201), rule
    if fault["kind"] == "reset":
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        # azure-core never repeats a POST on a dropped connection; the caller re-asks
        with pytest.raises((ServiceRequestError, ServiceResponseError)):
            logs_client(emulator).query_workspace(ws["customerId"], "AppTraces | count", timespan=None)
    result = logs_client(emulator).query_workspace(ws["customerId"], "AppTraces | count", timespan=None)
    assert result.tables[0].rows[0][0] == 1


def test_over_500000_rows_is_a_partial_result(emulator: Emulator) -> None:
    from azure.monitor.query import LogsQueryPartialResult

    ws = emulator.create_workspace("logs")
    result = logs_client(emulator).query_workspace(
        ws["customerId"], "range x from 1 to 500010 step 1", timespan=None
    )
    assert isinstance(result, LogsQueryPartialResult)
    assert len(result.partial_data[0].rows) == 500000
    assert result.partial_error is not None


def test_lowered_caps_cut_answers_by_rows_and_by_bytes(emulator: Emulator) -> None:
    from azure.monitor.query import LogsQueryPartialResult

    ws = emulator.create_workspace("logs")
    client = logs_client(emulator)
    try:
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": 100})
        by_rows = client.query_workspace(ws["customerId"], "range x from 1 to 101 step 1", timespan=None)
        assert isinstance(by_rows, LogsQueryPartialResult) and len(by_rows.partial_data[0].rows) == 100
        assert "100 records" in str(by_rows.partial_error)
        whole = client.query_workspace(ws["customerId"], "range x from 1 to 100 step 1", timespan=None)
        assert not isinstance(whole, LogsQueryPartialResult) and len(whole.tables[0].rows) == 100

        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": None, "queryByteLimit": 1000})
        by_size = client.query_workspace(
            ws["customerId"], 'range x from 1 to 100 step 1 | extend pad = strrep("p", 50)', timespan=None
        )
        assert isinstance(by_size, LogsQueryPartialResult)
        assert 0 < len(by_size.partial_data[0].rows) < 100 and "1000 bytes" in str(by_size.partial_error)
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"queryRowLimit": None, "queryByteLimit": None})


def test_a_query_outliving_prefer_wait_is_a_504_and_the_service_goes_on(emulator: Emulator) -> None:
    from azure.core.exceptions import HttpResponseError

    ws = emulator.create_workspace("logs")
    client = logs_client(emulator)
    started = time.monotonic()
    with pytest.raises(HttpResponseError) as caught:
        client.query_workspace(ws["customerId"], SLOW_KQL, timespan=None, server_timeout=1, retry_total=0)
    assert caught.value.status_code == 504 and time.monotonic() - started < 6
    assert caught.value.response.headers.get("Preference-Applied") == "wait=1"
    assert "GatewayTimeout" in str(caught.value)
    after = client.query_workspace(ws["customerId"], "range x from 1 to 3 step 1 | count", timespan=None)
    assert after.tables[0].rows[0][0] == 3
