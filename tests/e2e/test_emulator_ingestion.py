"""Ingestion: /v2.1/track as the Azure Monitor exporter posts it (JSON array, gzip, NDJSON), both
inference-server generations, the service's answer body, unknown keys, and restart persistence."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import Emulator, start_emulator, stop_emulator
from tests.helpers import logs_client, post, reference_telemetry

NOW = dt.datetime.now(dt.UTC)


def _request_151(key: str, failed: bool) -> dict[str, Any]:
    return {
        "name": "Microsoft.ApplicationInsights.Request",
        "time": (NOW - dt.timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "iKey": key,
        "tags": {"ai.cloud.role": "svc151", "ai.cloud.roleInstance": "host1", "ai.operation.id": "ab" * 16},
        "data": {
            "baseType": "RequestData",
            "baseData": {
                "ver": 2,
                "id": "1234567890abcdef",
                "name": "POST /score",
                "duration": "0.00:00:00.000",
                "responseCode": "0",
                "success": True,
                "url": "http://127.0.0.1/score",
                "properties": {
                    "resultCode": "500" if failed else "200",
                    "success": str(not failed),
                    "duration": "00:00:00.250",
                },
            },
        },
    }


def _model_data_141(key: str) -> dict[str, Any]:
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": (NOW - dt.timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
        "iKey": key,
        "tags": {"ai.cloud.role": "azmlinfsrv", "ai.operation.id": "0" * 32},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": "model_data_collection",
                "severityLevel": "Information",
                "properties": {
                    "Service Name": "svc141",
                    "Input": '{"data": [[1, 2]]}',
                    "Prediction": "[0.5]",
                },
            },
        },
    }


def _counts(emulator: Emulator, ws: dict[str, Any]) -> list[Any]:
    result = logs_client(emulator).query_resource(
        ws["appInsightsId"],
        "union (requests | extend k='r', v=tostring(customDimensions.resultCode), role=cloud_RoleName), "
        "(traces | extend k='t', v=tostring(customDimensions.Input), role=cloud_RoleName) | project k, v, role | order by k asc, v asc",
        timespan=dt.timedelta(hours=1),
    )
    return [list(r) for r in result.tables[0].rows]


def test_both_generations_land_with_their_field_mapping(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    key = ws["instrumentationKey"]
    body = json.dumps([_request_151(key, True), _request_151(key, False), _model_data_141(key)]).encode()
    status, answer = post(emulator, "/v2.1/track", body)
    assert (status, answer) == (200, {"itemsReceived": 3, "itemsAccepted": 3, "errors": []})
    assert _counts(emulator, ws) == [
        ["r", "200", "svc151"],
        ["r", "500", "svc151"],
        ["t", '{"data": [[1, 2]]}', "azmlinfsrv"],
    ]


def test_gzip_ndjson_and_double_slash_are_accepted(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    key = ws["instrumentationKey"]
    status, answer = post(
        emulator,
        "//v2.1/track",
        gzip.compress(json.dumps([_request_151(key, False)]).encode()),
        {"Content-Encoding": "gzip"},
    )
    assert status == 200 and answer["itemsAccepted"] == 1, answer
    ndjson = "\n".join(json.dumps(_request_151(key, True)) for _ in range(2)).encode()
    status, answer = post(emulator, "/v2/track", ndjson, {"Content-Type": "application/x-json-stream"})
    assert status == 200 and answer["itemsAccepted"] == 2, answer
    assert [row[1] for row in _counts(emulator, ws)] == ["200", "500", "500"]


def test_unknown_key_is_refused_per_item(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    good = _request_151(ws["instrumentationKey"], False)
    bad = _request_151(str(uuid.uuid4()), False)
    status, answer = post(emulator, "/v2.1/track", json.dumps([good, bad]).encode())
    assert status == 206, answer
    assert answer["itemsReceived"] == 2 and answer["itemsAccepted"] == 1
    assert [e["index"] for e in answer["errors"]] == [1]
    status, answer = post(emulator, "/v2.1/track", b"not json")
    assert status == 400 and answer["itemsAccepted"] == 0


def test_ingestion_delay_setting_hides_rows_until_due(emulator: Emulator) -> None:
    ws = emulator.create_workspace("logs")
    status, _ = emulator.admin("PUT", "/_emulator/telemetry/settings", {"ingestionDelay": 3600, "jitter": 0})
    assert status == 200
    try:
        status, answer = post(
            emulator, "/v2.1/track", json.dumps([_request_151(ws["instrumentationKey"], False)]).encode()
        )
        assert status == 200 and answer["itemsAccepted"] == 1
    finally:
        emulator.admin("PUT", "/_emulator/telemetry/settings", {"ingestionDelay": 0, "jitter": 0})
    assert _counts(emulator, ws) == []


def test_rows_survive_a_restart(tmp_path: Path) -> None:
    first = start_emulator(tmp_path / "data")
    try:
        ws = first.create_workspace("logs")
        status, _ = post(
            first, "/v2.1/track", json.dumps([_request_151(ws["instrumentationKey"], False)]).encode()
        )
        assert status == 200
    finally:
        stop_emulator(first)
    second = start_emulator(tmp_path / "data")
    try:
        assert _counts(second, ws) == [["r", "200", "svc151"]]
    finally:
        stop_emulator(second)


# --- issue 11.8 / 11.5: App Insights' per-item limits, applied at ingestion ------------------------
def test_values_past_the_documented_limits_are_cut_at_ingestion(emulator: Emulator, cli: Any) -> None:
    ws = emulator.create_workspace("limits")
    key = ws["instrumentationKey"]
    record = reference_telemetry("v1.4.1-message-model_data_collection.json")
    record["iKey"], record["time"] = key, (NOW - dt.timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
    properties = record["data"]["baseData"]["properties"]
    big_input = json.dumps(json.dumps({"data": [list(range(5000))]}))  # ~24,000 characters, sent whole
    properties["Input"] = big_input
    printed = json.loads(json.dumps(record))
    printed["data"]["baseData"].update(
        message="p" * 40_000, properties={"level": "INFO", "note": "v" * 9_000}
    )
    status, answer = post(emulator, "/v2.1/track", json.dumps([record, printed]).encode())
    assert status == 200 and answer["itemsAccepted"] == 2, answer
    rows = (
        logs_client(emulator)
        .query_resource(
            ws["appInsightsId"],
            "traces | project n = strlen(message), i = strlen(tostring(customDimensions.Input)), "
            "l = strlen(tostring(customDimensions.note)), p = tostring(customDimensions.Prediction) | order by n asc",
            timespan=dt.timedelta(hours=1),
        )
        .tables[0]
        .rows
    )
    assert [list(row) for row in rows] == [[21, 8192, 0, "[60.5]"], [32768, 0, 8192, ""]]
    # What amlmon makes of the cut 1.4.x record: the Input named as cut, the prediction whole.
    result = cli("traces", "--model-data", "--since", "1h", *ws["scope"], "-o", "jsonl")
    assert result.exit_code == 0, result.stderr
    (event,) = [json.loads(line) for line in result.stdout.splitlines()]
    model = event["modelData"]
    assert model["truncated"] is True and model["cut"] == ["Input"] and model["prediction"] == [60.5]
    assert model["requestId"] == properties["Request Id"]
