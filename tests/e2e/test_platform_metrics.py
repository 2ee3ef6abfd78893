"""v2 platform metrics end to end: traffic through the emulator's front door to a deployment backed by
the real inference server and Collector, read back with `amlmon stats --metrics` / `check --max-cpu…`
through azure-mgmt-monitor's metrics client.

Ground truth: the requests the test sent (counts exact), the traffic log's TotalDurationMs (the same
durations the front door measured), the records in Azurite (one collector event each)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from tests.online import WAIT, Deployment, blob_records, send_blue


def _get(emulator: Any, path: str) -> tuple[int, Any]:
    """The test's own GET (its own token) with a query string of its own."""
    import ssl
    import urllib.error
    import urllib.request

    token = emulator.credential().get_token(emulator.endpoint + "/.default").token
    request = urllib.request.Request(emulator.endpoint + path, headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cafile=emulator.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


pytestmark = [pytest.mark.inference, pytest.mark.azurite]

GOOD = {"data": [[1, 2, 3, 4]]}
BAD = {"data": [[1]]}  # the model fails: 500


def _stats(cli: Any, dep: Deployment) -> dict[str, Any]:
    result = cli("stats", f"{dep.endpoint}/blue", "--metrics", "--since", "1h", *dep.ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    found = result.json()["targets"]
    assert [t["target"] for t in found] == [f"{dep.endpoint}/blue"]
    return dict(found[0])


def _nearest_rank(values: list[int], p: int) -> float:
    ordered = sorted(values)
    return float(ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1])


def test_stats_metrics_equal_the_traffic_sent_and_what_the_emulator_measured(
    cli: Any, emulator: Any, azurite: Any, deployment: Deployment
) -> None:
    dep = deployment
    on = cli("diagnostics", "enable", dep.endpoint, "--endpoint-logs", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    before = _stats(cli, dep)
    codes = send_blue(emulator, dep, [GOOD] * 5 + [BAD] * 2)
    assert codes == {"200": 5, "500": 2}
    sent = before["requests"]["count"] + 7

    prefix = f"modelDataCollector/{dep.endpoint}/blue/"
    deadline = time.time() + WAIT
    while True:
        found = _stats(cli, dep)
        records = sum(len(lines) for lines in blob_records(azurite, dep.container, prefix).values())
        settled = (
            found["requests"]["count"] == sent
            and found["memory"]["maxPercent"] is not None
            and found["cpu"]["maxPercent"] is not None
            and records >= 10
            and found["dataCollection"]["events"] == records
        )
        if settled or time.time() > deadline:
            break
        time.sleep(0.5)
    requests = found["requests"]
    assert requests["count"] == sent and requests["failures"] == before["requests"]["failures"] + 2
    assert requests["byStatusCodeClass"]["5xx"] == requests["failures"]
    assert requests["byStatusCodeClass"]["2xx"] == sent - requests["failures"]
    assert requests["failureRate"] == round(requests["failures"] / sent, 6)
    assert found["dataCollection"] == {"events": records, "errors": 0}, "one event per collected record"
    assert 0 < found["memory"]["maxPercent"] <= 100 and 0 <= found["cpu"]["maxPercent"] <= 100
    assert found["capacity"]["instances"] == 1

    # Latency: the front door's durations, which the traffic log holds too (one row per request).
    kql = f"AmlOnlineEndpointTrafficLog | where EndpointName == '{dep.endpoint}' | project TotalDurationMs"
    deadline = time.time() + WAIT
    while True:
        rows = cli("query", kql, "--log-analytics", "--since", "1h", *dep.ws["args"], "-o", "json")
        assert rows.exit_code == 0, rows.stderr
        durations = [int(r["TotalDurationMs"]) for r in rows.json()]
        if len(durations) >= 7 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert len(durations) == 7 and before["requests"]["count"] == 0, "the setting was on for every request"
    assert requests["maxMs"] == max(durations)
    assert requests["averageMs"] == round(sum(durations) / len(durations), 3)
    for p in (50, 90, 95, 99):
        assert requests[f"p{p}"] == _nearest_rank(durations, p)

    table = cli("stats", dep.endpoint, "--metrics", "--since", "1h", *dep.ws["args"], "-o", "table")
    assert table.exit_code == 0, table.stderr
    assert f"{dep.endpoint}/blue" in table.stdout and "platform-metrics" in table.stdout
    shown = cli("stats", f"{dep.endpoint}/blue", "--metrics", "--print-query", *dep.ws["args"])
    assert shown.stdout.count("GET ") == 2 and "metricnames=RequestsPerMinute," in shown.stdout

    # check on the same numbers: a limit above passes, a limit below fails.
    base = ["check", f"{dep.endpoint}/blue", "--since", "1h", *dep.ws["args"], "-o", "json"]
    passing = cli(*base, "--max-cpu", "100%", "--max-memory", "100%", "--max-collection-errors", "0")
    assert passing.exit_code == 0, passing.stdout + passing.stderr
    checks = {r["check"]: r for r in passing.json()["results"]}
    assert checks["minRequests"]["measured"] == sent
    assert checks["maxCollectionErrors"]["measured"] == 0
    assert checks["maxMemory"]["measured"] == pytest.approx(found["memory"]["maxPercent"] / 100, abs=0.05)
    failing = cli(*base, "--max-memory", "0%", "--max-failure-rate", "50%")
    assert failing.exit_code == 1
    statuses = {r["check"]: r["status"] for r in failing.json()["results"]}
    assert statuses == {"minRequests": "PASS", "maxFailureRate": "PASS", "maxMemory": "FAIL"}
    usage = cli("check", f"{dep.endpoint}/blue", "--max-cpu", "lots", *dep.ws["args"])
    assert usage.exit_code == 2 and "error: --max-cpu 'lots' is not a rate" in usage.stderr
    assert "hint:" in usage.stderr and "Traceback" not in usage.stderr
    mixed = cli(
        "check", f"{dep.endpoint}/blue", "--max-cpu", "80%", "--max-throttle-delay", "1s", *dep.ws["args"]
    )
    assert mixed.exit_code == 2 and "are different sources" in mixed.stderr and "hint:" in mixed.stderr
    unsupported = cli("check", f"{dep.endpoint}/blue", "--metrics", "--max-exceptions", "0", *dep.ws["args"])
    assert (
        unsupported.exit_code == 2
        and "error: --max-exceptions is not in the platform metrics" in unsupported.stderr
    )


def test_metrics_route_answers_like_azure_monitor(emulator: Any, deployment: Deployment) -> None:
    """The Metrics_List shape (2023-10-01) per minute, and Azure's 400 for a name it does not publish."""
    dep = deployment
    send_blue(emulator, dep, [GOOD, BAD])
    path = f"{dep.ws['id']}/onlineEndpoints/{dep.endpoint}/providers/Microsoft.Insights/metrics"
    end = time.time() + 60
    timespan = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end - 3600))}/{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end))}"
    query = f"&metricnames=RequestsPerMinute&timespan={timespan}&interval=PT1M&aggregation=total&$filter=deployment%20eq%20'*'"
    status, body = _get(emulator, path + "?api-version=2023-10-01" + query)
    assert status == 200, body
    assert set(body) == {"cost", "timespan", "interval", "value", "namespace", "resourceregion"}
    assert (
        body["interval"] == "PT1M"
        and body["namespace"] == "microsoft.machinelearningservices/workspaces/onlineendpoints"
    )
    (metric,) = body["value"]
    assert metric["name"]["value"] == "RequestsPerMinute" and metric["unit"] == "Count"
    assert metric["errorCode"] == "Success" and metric["type"] == "Microsoft.Insights/metrics"
    (series,) = metric["timeseries"]
    assert series["metadatavalues"] == [
        {"name": {"value": "deployment", "localizedValue": "deployment"}, "value": "blue"}
    ]
    assert len(series["data"]) in (60, 61) and all(set(d) == {"timeStamp", "total"} for d in series["data"])
    assert sum(d["total"] for d in series["data"]) >= 1

    # A filter on a dimension a metric lacks: an error unless ValidateDimensions=false; `top` cuts series.
    mixed = f"?api-version=2023-10-01&metricnames=RequestLatency&timespan={timespan}&$filter=statusCodeClass%20eq%20'*'"
    status, body = _get(emulator, path + mixed)
    assert (
        status == 400
        and "does not support requested dimension combination: statuscodeclass" in body["message"]
    )
    status, body = _get(emulator, path + mixed + "&ValidateDimensions=false")
    assert status == 200 and len(body["value"][0]["timeseries"]) == 1
    split = f"?api-version=2023-10-01&metricnames=RequestsPerMinute&timespan={timespan}&interval=FULL&aggregation=total"
    status, body = _get(emulator, path + split + "&$filter=statusCode%20eq%20'*'")
    codes = {s["metadatavalues"][0]["value"]: s["data"][0]["total"] for s in body["value"][0]["timeseries"]}
    assert status == 200 and set(codes) >= {"200", "500"} and body["interval"] == "PT1H"
    status, body = _get(emulator, path + split + "&$filter=statusCode%20eq%20'*'&top=1")
    (only,) = body["value"][0]["timeseries"]
    assert only["data"][0]["total"] == max(codes.values()), "top keeps the largest series"

    status, body = _get(
        emulator, path + "?api-version=2023-10-01&metricnames=RequestsPerMinute,MemoryUtilizationPercentage"
    )
    assert status == 400 and body["code"] == "BadRequest"
    assert "metric: MemoryUtilizationPercentage, Valid metrics: RequestsPerMinute," in body["message"]


def test_metrics_faults_throttle_and_server_errors(cli: Any, emulator: Any, deployment: Deployment) -> None:
    dep = deployment
    target = f"{dep.endpoint}/blue"
    try:
        status, _ = emulator.admin(
            "POST",
            "/_emulator/faults",
            {"kind": "status", "status": 503, "path": "/Microsoft.Insights/metrics$", "count": 1},
        )
        assert status in (200, 201)
        retried = cli("stats", target, "--metrics", *dep.ws["args"], "-o", "json")
        assert retried.exit_code == 0, retried.stderr  # one 503 is retried
        emulator.admin("DELETE", "/_emulator/faults")
        emulator.admin(
            "POST",
            "/_emulator/faults",
            {
                "kind": "status",
                "status": 429,
                "path": "/Microsoft.Insights/metrics$",
                "count": None,
                "retryAfter": 0,
            },
        )
        throttled = cli("stats", target, "--metrics", *dep.ws["args"])
        assert (
            throttled.exit_code == 5 and "error:" in throttled.stderr and "Traceback" not in throttled.stderr
        )
        emulator.admin("DELETE", "/_emulator/faults")
        emulator.admin(
            "POST",
            "/_emulator/faults",
            {"kind": "status", "status": 500, "path": "/Microsoft.Insights/metrics$", "count": None},
        )
        gate = cli("check", target, "--max-cpu", "100%", "--min-requests", "0", *dep.ws["args"])
        assert gate.exit_code == 6, gate.stdout + gate.stderr
        assert "could not be evaluated" in gate.stderr
    finally:
        emulator.admin("DELETE", "/_emulator/faults")
    healthy = cli("check", target, "--max-cpu", "100%", "--min-requests", "0", *dep.ws["args"])
    assert healthy.exit_code == 0, "the control: without faults the same gate passes"


def test_collection_errors_count_writes_the_storage_refused_and_fail_the_gate(
    cli: Any, emulator: Any, azurite: Any, deployment: Deployment
) -> None:
    """The collector's storage refuses writes (a wrong account key: 403): each post the score.py
    Collector makes is a DataCollectionErrorsPerMinute, and `--max-collection-errors 0` fails."""
    import base64

    dep = deployment
    target = f"{dep.endpoint}/blue"
    on = cli("diagnostics", "enable", dep.endpoint, "--model-data", *dep.ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    before = _stats(cli, dep)["dataCollection"]
    wrong_key = base64.b64encode(b"not the account key").decode()
    refused = azurite.connection_string.replace(azurite.account_key, wrong_key)
    assert refused != azurite.connection_string
    emulator.admin("POST", "/_emulator/modeldata/storage", {"connectionString": refused})
    try:
        send_blue(emulator, dep, [GOOD])  # one request: model_inputs and model_outputs
        deadline = time.time() + WAIT
        while True:
            found = _stats(cli, dep)["dataCollection"]
            if found["errors"] >= before["errors"] + 2 or time.time() > deadline:
                break
            time.sleep(0.3)
    finally:
        emulator.admin(
            "POST", "/_emulator/modeldata/storage", {"connectionString": azurite.connection_string}
        )
    assert found == {"events": before["events"], "errors": before["errors"] + 2}
    gate = cli(
        "check", target, "--max-collection-errors", "0", "--since", "1h", *dep.ws["args"], "-o", "json"
    )
    assert gate.exit_code == 1, gate.stdout + gate.stderr
    result = {r["check"]: r for r in gate.json()["results"]}["maxCollectionErrors"]
    assert (result["status"], result["measured"]) == ("FAIL", before["errors"] + 2)
    allowed = cli(
        "check",
        target,
        "--max-collection-errors",
        str(before["errors"] + 2),
        "--since",
        "1h",
        *dep.ws["args"],
    )
    assert allowed.exit_code == 0, "the control: the same errors within the limit pass"
