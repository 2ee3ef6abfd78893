"""A v2 deployment backed by the real azureml-inference-server-http with the real azureml-ai-monitoring
Collector in its score.py: scoring through the endpoint's front door, the collector's JSON lines in
Azurite in the documented layout, and the requests in AmlOnlineEndpointTrafficLog by KQL through
`amlmon query --log-analytics`.

The pipes are switched on by amlmon itself (`diagnostics enable --model-data --endpoint-logs`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any

import pytest

from amlmon import kql
from tests.azurite import Azurite
from tests.helpers import arm, deployment_path, wait_succeeded
from tests.online import (
    FEATURES,
    MODEL,
    WAIT,
    Deployment,
    add_deployment,
    blob_records,
    enable_blue,
    score,
    score_each,
    send_to,
)

pytestmark = [pytest.mark.inference, pytest.mark.azurite]

ROWS = [[[12, 70, 1, 1]], [[3, 95.5, 4, 0], [24, 20, 0, 3]], [[1, 110, 6, 0]]]
PREDICTIONS = [MODEL.predict(rows) for rows in ROWS]  # ground truth: the sample model's own arithmetic
RECORD_FIELDS = {
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "time",
    "data",
    "correlationid",
    "xrequestid",
    "contentrange",
    "modelversion",
    "collectdatatype",
    "agent",
}
BLOB = re.compile(
    r"^modelDataCollector/(?P<ep>[^/]+)/(?P<dep>[^/]+)/(?P<collection>[^/]+)/"
    r"\d{4}/\d{2}/\d{2}/\d{2}/(?P<instance>[^/]+)\.jsonl$"
)


def _wait_records(
    azurite: Azurite, dep: Deployment, collection: str, count: int
) -> dict[str, list[dict[str, Any]]]:
    prefix = f"modelDataCollector/{dep.endpoint}/blue/{collection}/"
    deadline = time.time() + WAIT
    while time.time() < deadline:
        found = blob_records(azurite, dep.container, prefix)
        if sum(len(v) for v in found.values()) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{collection}: fewer than {count} records after {WAIT:.0f} s: {found}")


def test_collector_writes_inputs_and_outputs_and_front_door_writes_traffic_log(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment
) -> None:
    dep = deployment
    # Positive control: before any pipe is on, scoring works and nothing is collected.
    status, _, answer = score(emulator, dep, ROWS[0], "before")
    assert status == 200 and answer == {"predictions": PREDICTIONS[0]}

    on = enable_blue(cli, emulator, dep, "--model-data", "--endpoint-logs")

    sent: list[tuple[str, list[list[float]], list[float]]] = []
    for index, (rows, predictions) in enumerate(zip(ROWS, PREDICTIONS, strict=True)):
        status, headers, answer = score(emulator, dep, rows, f"client-{index}")
        assert status == 200 and answer == {"predictions": predictions}, answer
        assert headers["azureml-model-deployment"] == "blue"
        sent.append((headers["x-request-id"], rows, predictions))
    status, headers, _ = score(emulator, dep, [[1, 2]], "bad")  # a row of the wrong width: the model fails
    assert status == 500
    failed_id = headers["x-request-id"]

    inputs = _wait_records(azurite, dep, "model_inputs", len(sent))
    outputs = _wait_records(azurite, dep, "model_outputs", len(sent))
    source = deployment_path(dep.ws, dep.endpoint, "blue")
    by_request: dict[str, dict[str, Any]] = {}
    for collection, blobs in (("model_inputs", inputs), ("model_outputs", outputs)):
        for name, records in blobs.items():
            match = BLOB.match(name)
            assert match, name
            assert (match["ep"], match["dep"], match["collection"]) == (dep.endpoint, "blue", collection)
            for record in records:
                assert set(record) == RECORD_FIELDS, record
                assert record["specversion"] == "1.0" and record["source"] == source
                assert record["type"] == f"azureml.inference.{collection}"
                assert record["datacontenttype"] == "application/json"
                assert record["correlationid"] == record["xrequestid"]
                # the DataFrame's type name as the package computes it (pandas 3: pandas.DataFrame)
                assert re.fullmatch(r"pandas\.(core\.frame\.)?DataFrame", record["collectdatatype"])
                assert record["agent"] == "azureml-ai-monitoring/1.0.0"
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["time"])
                size = len(json.dumps(record["data"], separators=(",", ":")))
                assert record["contentrange"] == f"bytes 0-{size - 1}/{size}"
                by_request.setdefault(record["correlationid"], {})[collection] = record["data"]
    assert failed_id not in by_request, "a request the model failed logs no inputs (run() raised first)"
    for request_id, rows, predictions in sent:
        assert by_request[request_id]["model_inputs"] == [
            dict(zip(FEATURES, row, strict=True)) for row in rows
        ]
        assert by_request[request_id]["model_outputs"] == [{"churn_probability": p} for p in predictions]
    assert len(by_request) == len(sent)
    assert azurite.account_key not in on.stdout + on.stderr

    kql = (
        f"AmlOnlineEndpointTrafficLog | where EndpointName == '{dep.endpoint}' "
        "| project XRequestId, XMSClientRequestId, ResponseCode, ModelStatusCode, TotalDurationMs, "
        "ResponseDurationMs, RequestPayloadSize, ResponsePayloadSize, DeploymentName, Method, Path"
    )
    deadline = time.time() + WAIT
    while True:
        result = cli("query", kql, "--log-analytics", "--since", "1h", *dep.ws["args"], "-o", "json")
        assert result.exit_code == 0, result.stderr
        rows_found = result.json()
        if len(rows_found) >= len(sent) + 1 or time.time() > deadline:
            break
        time.sleep(0.3)
    traffic = {row["XRequestId"]: row for row in rows_found}
    assert set(traffic) == {request_id for request_id, _, _ in sent} | {failed_id}, (
        "the request before the setting is absent"
    )
    for index, (request_id, rows, _) in enumerate(sent):
        row = traffic[request_id]
        assert (row["ResponseCode"], row["ModelStatusCode"], row["DeploymentName"]) == (200, 200, "blue")
        assert row["XMSClientRequestId"] == f"client-{index}"
        assert row["Method"] == "POST" and row["Path"] == f"/api/v1/endpoint/{dep.endpoint}/score"
        assert (
            isinstance(row["TotalDurationMs"], int)
            and row["TotalDurationMs"] >= row["ResponseDurationMs"] >= 0
        )
        assert row["RequestPayloadSize"] == len(json.dumps({"data": rows}))
        assert row["ResponsePayloadSize"] > 0
    assert (traffic[failed_id]["ResponseCode"], traffic[failed_id]["ModelStatusCode"]) == (500, 500)

    console = cli(
        "query",
        "AmlOnlineEndpointConsoleLog | where DeploymentName == 'blue' and Message has 'scored' | count",
        "--log-analytics",
        "--since",
        "1h",
        *dep.ws["args"],
        "-o",
        "json",
    )
    assert console.exit_code == 0, console.stderr
    assert console.json()[0]["Count"] >= len(sent), "score.py's print lines reach the console log"


def test_data_pull_from_collector_blobs_equals_what_score_py_collected(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment, tmp_path: Any
) -> None:
    from amlmon import datasets

    dep = deployment
    enable_blue(cli, emulator, dep, "--model-data")
    score_each(emulator, dep, ROWS, "pull")
    # Ground truth: every record score.py's Collector got into the blobs so far (this test's and the
    # previous one's), exploded to one row per DataFrame row and joined by `{correlationid}_{i}`.
    _wait_records(azurite, dep, "model_outputs", 2 * len(ROWS))
    truth: dict[str, dict[str, Any]] = {}
    for collection in ("model_inputs", "model_outputs"):
        blobs = blob_records(azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/{collection}/")
        for records in blobs.values():
            for record in records:
                for i, row in enumerate(record["data"]):
                    truth.setdefault(f"{record['correlationid']}_{i}", {})[collection] = row
    assert len(truth) == 2 * sum(len(rows) for rows in ROWS), "both tests' rows, a 2-row request twice"

    # A line still being appended (no newline yet) and a model monitoring copy: neither becomes a row.
    container = azurite.service().get_container_client(dep.container)
    inputs_blob = next(
        name
        for name in blob_records(
            azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/model_inputs/"
        )
    )
    # Another instance's blob in the same folder whose first line is still being appended (the
    # emulator's own blobs get whole lines only, so the fragment is staged here).
    growing = container.get_blob_client(inputs_blob.rsplit("/", 1)[0] + "/growing-instance.jsonl")
    growing.create_append_blob()
    growing.append_block(b'{"specversion":"1.0","id":"torn","data":[{"ten')
    copy_name = inputs_blob.replace(".jsonl", "_block_blob.jsonl")
    line = json.dumps(
        {"specversion": "1.0", "time": "2026-01-01T00:00:00Z", "correlationid": "copy", "data": [{}]}
    )
    container.upload_blob(copy_name, (line + "\n").encode(), overwrite=True)

    out = tmp_path / "collected.parquet"
    result = cli(
        "data",
        "pull",
        dep.endpoint,
        "--out",
        str(out),
        "--since",
        "1h",
        "--datastore-url",
        f"{azurite.blob_endpoint}/{dep.container}",
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["rows"] == len(truth) and summary["withoutOutput"] == 0
    assert summary["skippedCopies"] == 1 and summary["partialBytes"] > 0
    assert azurite.account_key not in result.stdout + result.stderr
    pulled = {row["request_id"]: row for row in datasets.read_rows(out)}
    assert set(pulled) == set(truth)
    for row_id, row in pulled.items():
        assert row["input"] == truth[row_id]["model_inputs"]
        assert row["prediction"] == truth[row_id]["model_outputs"]
        assert (row["service"], row["deployment"], row["generation"]) == (dep.endpoint, "blue", "collector")
    two_rows = [row_id for row_id in pulled if row_id.endswith("_1")]
    assert len(two_rows) == 2, "the 2-row request of each test is exploded into _0 and _1"
    for rows in ROWS:
        for row in rows:
            assert dict(zip(FEATURES, row, strict=True)) in [r["input"] for r in pulled.values()]


def test_stats_endpoint_logs_equal_the_traffic_sent(cli: Any, emulator: Any, deployment: Deployment) -> None:
    """A second deployment of its own (no traffic weight, chosen by header), so the ground truth is
    exactly the requests this test sends."""

    dep = deployment
    add_deployment(emulator, dep, "green")
    on = cli("diagnostics", "enable", dep.endpoint, "--endpoint-logs", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    codes = send_to(emulator, dep, "green", [{"data": [[1, 2, 3, 4]]}] * 4 + [{"data": [[1]]}] * 2, "s")
    assert codes == {"200": 4, "500": 2}

    deadline = time.time() + WAIT
    while True:
        result = cli(
            "stats",
            f"{dep.endpoint}/green",
            "--endpoint-logs",
            "--since",
            "1h",
            *dep.ws["args"],
            "-o",
            "json",
        )
        assert result.exit_code == 0, result.stderr
        found = result.json()["targets"]
        if (found and found[0]["requests"]["count"] >= 6) or time.time() > deadline:
            break
        time.sleep(0.3)
    assert [t["target"] for t in found] == [f"{dep.endpoint}/green"]
    requests = found[0]["requests"]
    assert (requests["count"], requests["failures"], requests["clientErrors"]) == (6, 2, 0)
    assert requests["failureRate"] == round(2 / 6, 6) and requests["codes"] == codes
    assert requests["modelFailures"] == 2
    assert 0 <= requests["p50"] <= requests["p95"] <= requests["p99"]
    assert found[0]["payloadBytes"]["request"] == 4 * len(json.dumps({"data": [[1, 2, 3, 4]]})) + 2 * len(
        json.dumps({"data": [[1]]})
    )

    table = cli("stats", dep.endpoint, "--endpoint-logs", "--since", "1h", *dep.ws["args"], "-o", "table")
    assert table.exit_code == 0, table.stderr
    assert f"{dep.endpoint}/green" in table.stdout and "200:4 500:2" in table.stdout
    shown = cli("stats", dep.endpoint, "--endpoint-logs", "--print-query", *dep.ws["args"])
    assert "summarize" in shown.stdout and f"EndpointName == {kql.string(dep.endpoint)}" in shown.stdout


def test_batched_records_are_exploded_and_joined(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment, tmp_path: Any
) -> None:
    """With `collectorBatchSeconds` the sidecar batches a collection's posts close in time into one
    record (the first post's correlation id, every row), as the real collector does; the pull makes one
    row per data row, `{correlationid}_{i}`, inputs joined with outputs."""
    from amlmon import datasets

    dep = deployment
    enable_blue(cli, emulator, dep, "--model-data")
    status, _ = emulator.admin("PUT", "/_emulator/settings", {"collectorBatchSeconds": 3})
    assert status == 200
    try:
        sent_ids = score_each(emulator, dep, ROWS, "batch")
        sent_rows = [row for rows in ROWS for row in rows]
        first = sent_ids[0]
        deadline = time.time() + WAIT
        batched: dict[str, dict[str, Any]] = {}
        while time.time() < deadline and len(batched) < 2:
            for collection in ("model_inputs", "model_outputs"):
                blobs = blob_records(
                    azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/{collection}/"
                )
                for records in blobs.values():
                    for record in records:
                        if record["correlationid"] == first:
                            batched[collection] = record
            time.sleep(0.2)
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"collectorBatchSeconds": 0})
    assert set(batched) == {"model_inputs", "model_outputs"}
    assert len(batched["model_inputs"]["data"]) == len(sent_rows) == len(batched["model_outputs"]["data"])

    out = tmp_path / "batched.jsonl"
    result = cli(
        "data",
        "pull",
        f"{dep.endpoint}/blue",
        "--out",
        str(out),
        "--since",
        "1h",
        "--datastore-url",
        f"{azurite.blob_endpoint}/{dep.container}",
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.exit_code == 0, result.stderr
    pulled = {row["request_id"]: row for row in datasets.read_rows(out)}
    predictions = MODEL.predict(sent_rows)
    for i, (row, prediction) in enumerate(zip(sent_rows, predictions, strict=True)):
        got = pulled[f"{first}_{i}"]
        assert got["input"] == dict(zip(FEATURES, row, strict=True))
        assert got["prediction"] == {"churn_probability": prediction}
    assert not any(row_id.startswith(tuple(sent_ids[1:])) for row_id in pulled), (
        "later requests are in the batch"
    )


def test_check_endpoint_logs_gates_on_the_traffic_log(
    cli: Any, emulator: Any, deployment: Deployment
) -> None:
    """A deployment of its own: 3 good requests and 1 the model fails → a 25% failure rate."""

    dep = deployment
    add_deployment(emulator, dep, "gated")
    on = cli("diagnostics", "enable", dep.endpoint, "--endpoint-logs", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    target = f"{dep.endpoint}/gated"
    quiet = cli("check", target, "--endpoint-logs", "--since", "1h", *dep.ws["args"], "-o", "json")
    assert quiet.exit_code == 1, "no traffic yet: min-requests fails"
    assert [r["status"] for r in quiet.json()["results"]] == ["FAIL"]
    send_to(emulator, dep, "gated", [{"data": [[1, 2, 3, 4]]}] * 3 + [{"data": "bad"}])
    args = [
        "check",
        target,
        "--endpoint-logs",
        "--since",
        "1h",
        "--max-throttle-delay",
        "1s",
        *dep.ws["args"],
    ]
    deadline = time.time() + WAIT
    while True:
        passing = cli(*args, "--max-failure-rate", "30%", "-o", "json")
        if passing.exit_code == 0 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert passing.exit_code == 0, passing.stdout + passing.stderr
    checks = {r["check"]: r for r in passing.json()["results"]}
    assert checks["minRequests"]["measured"] == 4 and checks["maxFailureRate"]["measured"] == 0.25
    assert checks["maxThrottleDelay"]["measured"] == 0 and checks["maxThrottleDelay"]["status"] == "PASS"
    failing = cli(*args, "--max-failure-rate", "20%", "-o", "json")
    assert failing.exit_code == 1
    assert {r["check"]: r["status"] for r in failing.json()["results"]}["maxFailureRate"] == "FAIL"
    usage = cli("check", target, "--endpoint-logs", "--max-exceptions", "0", *dep.ws["args"])
    assert (
        usage.exit_code == 2
        and "error: --max-exceptions is not in the endpoint's traffic log" in usage.stderr
    )
    alone = cli("check", target, "--max-throttle-delay", "1s", *dep.ws["args"])
    assert alone.exit_code == 2 and "hint:" in alone.stderr


def test_sampling_rate_and_mode_are_honoured(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment
) -> None:
    """model_inputs at samplingRate 0, model_outputs at 1: the outputs arrive, the inputs never do.

    No sleeping: the Collector has one worker posting in order, inputs before outputs, and waits for
    each answer, so once a request's output record is in the blob its input would already be there."""
    dep = deployment
    enable_blue(cli, emulator, dep, "--model-data", "--endpoint-logs")
    path = deployment_path(dep.ws, dep.endpoint, "blue")
    assert score(emulator, dep, ROWS[0], "warm-up")[0] == 200  # a running server, restarted below
    _, body, _ = arm(emulator, "GET", path)
    body["properties"]["dataCollector"]["collections"]["model_inputs"]["samplingRate"] = 0.0
    status, answer, _ = arm(emulator, "PUT", path, body)
    assert status in (200, 201), answer
    wait_succeeded(emulator, path)
    try:
        sent = score_each(emulator, dep, ROWS, "sampled")
        deadline = time.time() + WAIT
        outputs: set[str] = set()
        while time.time() < deadline and not set(sent) <= outputs:
            blobs = blob_records(
                azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/model_outputs/"
            )
            outputs = {r["correlationid"] for records in blobs.values() for r in records}
            time.sleep(0.2)
        assert set(sent) <= outputs, "positive control: the sampled requests' outputs are collected"
        blobs = blob_records(azurite, dep.container, f"modelDataCollector/{dep.endpoint}/blue/model_inputs/")
        inputs = {r["correlationid"] for records in blobs.values() for r in records}
        assert not set(sent) & inputs, "samplingRate 0: no input record"
        # The collector change restarted the inference server: the container events say so.
        events = cli(
            "query",
            "AmlOnlineEndpointEventLog | where DeploymentName == 'blue' | summarize n = count() by Name",
            "--log-analytics",
            "--since",
            "1h",
            *dep.ws["args"],
            "-o",
            "json",
        )
        assert events.exit_code == 0, events.stderr
        assert {"Killing", "Started"} <= {row["Name"] for row in events.json()}
    finally:
        body["properties"]["dataCollector"]["collections"]["model_inputs"]["samplingRate"] = 1.0
        arm(emulator, "PUT", path, body)
        wait_succeeded(emulator, path)


def test_data_tail_follows_appends_once_and_whole(
    cli: Any, emulator: Any, azurite: Azurite, deployment: Deployment
) -> None:
    import datetime as dt
    import queue
    import signal
    import threading

    from tests.conftest import spawn_amlmon

    dep = deployment
    enable_blue(cli, emulator, dep, "--model-data")
    env = {**emulator.env(), "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    args = [
        "data",
        "tail",
        f"{dep.endpoint}/blue",
        "--datastore-url",
        f"{azurite.blob_endpoint}/{dep.container}",
    ]
    process = spawn_amlmon([*args, "--interval", "200ms"], env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert "following" in process.stderr.readline()  # type: ignore[union-attr]
        seen: list[dict[str, Any]] = []

        def until(predicate: Any) -> None:
            deadline = time.time() + WAIT
            while not predicate() and time.time() < deadline:
                with contextlib.suppress(queue.Empty):
                    seen.append(json.loads(lines.get(timeout=0.5)))
            assert predicate(), seen

        def rows_of(request_id: str) -> list[dict[str, Any]]:
            return [row for row in seen if row["request_id"].startswith(f"{request_id}_")]

        _, headers, _ = score(emulator, dep, ROWS[1], "tail-1")
        first = headers["x-request-id"]
        until(lambda: len(rows_of(first)) == 4)  # 2 input rows, 2 output rows
        assert {(r["collection"], r["request_id"]) for r in rows_of(first)} == {
            (c, f"{first}_{i}") for c in ("model_inputs", "model_outputs") for i in (0, 1)
        }

        # A line being appended in two parts: printed once, whole, after its newline arrives.
        hour = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d/%H")
        growing = azurite.service().get_blob_client(
            dep.container, f"modelDataCollector/{dep.endpoint}/blue/model_inputs/{hour}/tail-growing.jsonl"
        )
        growing.create_append_blob()
        record = json.dumps(
            {
                "specversion": "1.0",
                "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "correlationid": "growing",
                "data": [{"x": 1}, {"x": 2}],
            }
        ).encode()
        growing.append_block(record[:30])
        _, headers, _ = score(emulator, dep, ROWS[0], "tail-2")
        second = headers["x-request-id"]
        until(lambda: len(rows_of(second)) == 2)  # a poll after the half line was appended
        assert rows_of("growing") == []
        growing.append_block(record[30:] + b"\n")
        until(lambda: len(rows_of("growing")) == 2)
        assert [r["data"] for r in rows_of("growing")] == [{"x": 1}, {"x": 2}]
        _, headers, _ = score(emulator, dep, ROWS[0], "tail-3")
        third = headers["x-request-id"]
        until(lambda: len(rows_of(third)) == 2)
        assert len(rows_of("growing")) == 2 and len(rows_of(first)) == 4, "nothing printed twice"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode == 130
