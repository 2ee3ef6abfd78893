"""`amlmon stats` against seeded telemetry with known ground truth, through the real query SDK."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Emulator

NEW, OLD = "churn-new", "churn-old"  # 1.5.x layout (real values in properties) and 1.4.x layout


@pytest.fixture(scope="module")
def seeded(emulator: Emulator) -> dict[str, Any]:
    """A workspace of its own with an hour of telemetry from a 1.5.x and a 1.4.x service."""
    services = [{"name": n, "computeType": "ACI"} for n in (NEW, OLD, "nobody-here")]
    ws = emulator.create_workspace("stats", services=services)
    truth: dict[str, Any] = {}
    for name, generation, failure_rate, latency in ((NEW, "1.5", 0.08, 120), (OLD, "1.4", 0.03, 60)):
        body = emulator.seed(
            ws,
            [name],
            hours=1,
            ratePerMinute=12,
            generation=generation,
            seed=7,
            failureRate={name: failure_rate},
            latencyMs={name: latency},
        )
        truth[name] = body["truth"][name]
    return {"scope": ws["scope"], "truth": truth, "created": ws}


pytestmark = pytest.mark.usefixtures("clear_faults")


def close(measured: float | None, expected: float) -> bool:
    """Percentiles: the emulator's nearest-rank value, give or take rounding to whole milliseconds."""
    return measured is not None and abs(measured - expected) <= max(1.0, 0.01 * expected)


def _stats(cli: Any, seeded: dict[str, Any], *args: str) -> dict[str, Any]:
    result = cli("stats", *args, "--since", "2h", *seeded["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {t["target"]: t for t in result.json()["targets"]}


@pytest.mark.parametrize("schema", [[], ["--log-analytics"]], ids=["app-insights", "log-analytics"])
def test_numbers_match_the_seeds_ground_truth_for_both_generations(
    cli: Any, seeded: dict[str, Any], schema: list[str]
) -> None:
    targets = _stats(cli, seeded, NEW, OLD, *schema)
    for name in (NEW, OLD):
        truth, req = seeded["truth"][name], targets[name]["requests"]
        assert truth["requests"] > 100 and truth["failures"] > 0
        assert req["count"] == truth["requests"]
        assert req["failures"] == truth["failures"]
        assert req["failureRate"] == pytest.approx(truth["failures"] / truth["requests"], abs=1e-6)
        for key in ("p50", "p95", "p99"):
            assert close(req[key], truth[key]), (name, key, req[key], truth[key])
        assert targets[name]["exceptions"]["count"] == truth["exceptions"]
        assert sum(req["series"]["requests"]) == req["count"]
        assert sum(req["series"]["failures"]) == req["failures"]
        assert sum(c["count"] for c in req["resultCodes"]) == req["count"]
        assert "0" not in {c["code"] for c in req["resultCodes"]}  # never the 1.5.x placeholder code


def test_the_placeholder_columns_would_have_given_the_wrong_answer(
    emulator: Emulator, seeded: dict[str, Any]
) -> None:
    """What a query on the standard columns says about the 1.5.x service: 0 ms, no failures."""
    import datetime as dt

    from azure.monitor.query import LogsQueryClient, LogsQueryResult

    client = LogsQueryClient(
        emulator.credential(), endpoint=emulator.endpoint + "/v1", connection_verify=emulator.ca_path
    )
    naive = (
        f'requests | where cloud_RoleName == "{NEW}" | summarize n = count(), '
        'failed = countif(tolower(tostring(success)) == "false"), p95 = percentile(duration, 95)'
    )
    answer = client.query_resource(seeded["created"]["appInsightsId"], naive, timespan=dt.timedelta(hours=2))
    assert isinstance(answer, LogsQueryResult)
    n, failed, p95 = answer.tables[0].rows[0]
    truth = seeded["truth"][NEW]
    assert n == truth["requests"]
    assert (failed, p95) == (0, 0)  # placeholders…
    assert truth["failures"] > 0 and truth["p95"] > 0  # …while the service really failed and took time


def test_no_target_reports_everything_in_the_workspace(cli: Any, seeded: dict[str, Any]) -> None:
    everything = _stats(cli, seeded)["*"]["requests"]
    assert everything["count"] == sum(t["requests"] for t in seeded["truth"].values())


def test_a_target_without_telemetry_reports_zero_not_an_error(cli: Any, seeded: dict[str, Any]) -> None:
    ghost = _stats(cli, seeded, "nobody-here")["nobody-here"]["requests"]
    assert (ghost["count"], ghost["failureRate"], ghost["p95"]) == (0, None, None)


def test_print_query_sends_nothing(cli: Any, emulator: Emulator, seeded: dict[str, Any]) -> None:
    before = emulator.last_seq()
    result = cli("stats", NEW, "--print-query", *seeded["scope"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("summarize") >= 9
    assert '"resultCode"' in result.stdout and "customDimensions" in result.stdout
    assert not [e for e in emulator.requests_since(before) if "/query" in str(e.get("path", ""))]
    la = cli("stats", NEW, "--print-query", "--log-analytics", *seeded["scope"])
    assert "AppRequests" in la.stdout and "Properties" in la.stdout


@pytest.mark.parametrize("hostile", ['svc" or true or "', "svc\n| take 1", "a/b/c", "x' //", ""])
def test_a_hostile_target_is_refused_before_any_query(
    cli: Any, emulator: Emulator, seeded: dict[str, Any], hostile: str
) -> None:
    before = emulator.last_seq()
    result = cli("stats", hostile, *seeded["scope"])
    assert result.exit_code == 2
    assert "not a target" in result.stderr and "Traceback" not in result.stderr
    assert not [e for e in emulator.requests_since(before) if "/query" in str(e.get("path", ""))]


def test_throttled_once_then_answers(cli: Any, emulator: Emulator, seeded: dict[str, Any]) -> None:
    status, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 429, "retryAfter": 1, "path": "/query", "count": 1},
    )
    assert status in (200, 201)
    before = emulator.last_seq()
    targets = _stats(cli, seeded, NEW)
    assert targets[NEW]["requests"]["count"] == seeded["truth"][NEW]["requests"]
    statuses = [
        e.get("status") for e in emulator.requests_since(before) if "/query" in str(e.get("path", ""))
    ]
    assert statuses[0] == 429 and statuses.count(200) == 3


def test_table_view_shows_each_target_side_by_side(cli: Any, seeded: dict[str, Any]) -> None:
    result = cli("stats", NEW, OLD, "--since", "2h", "--bin", "10m", *seeded["scope"], "-o", "table")
    assert result.exit_code == 0, result.stderr
    assert NEW in result.stdout and OLD in result.stdout
    assert "p50/p95/p99" in result.stdout and "bin 10m" in result.stdout
    assert any(ch in result.stdout for ch in "▁▂▃▄▅▆▇█")


def test_a_narrow_terminal_cuts_cells_with_an_ellipsis_never_wraps(
    emulator: Emulator, seeded: dict[str, Any]
) -> None:
    from tests.helpers import on_a_terminal

    wide = on_a_terminal(["stats", NEW, "--since", "2h", *seeded["scope"]], emulator.env(), columns=160)
    narrow = on_a_terminal(["stats", NEW, "--since", "2h", *seeded["scope"]], emulator.env(), columns=44)
    assert len(narrow.splitlines()) == len(wide.splitlines()), "one line per row, as wide as it is narrow"
    assert all(len(line) <= 44 for line in narrow.splitlines()), narrow
    assert "…" in narrow and "…" not in wide, "cut with an ellipsis only when it does not fit"
    assert "requests" in narrow and "p50/p95/p99" in narrow, "the narrow metric column stays whole"


def test_bins_follow_the_bin_option(cli: Any, seeded: dict[str, Any]) -> None:
    result = cli("stats", NEW, "--since", "2h", "--bin", "30m", *seeded["scope"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["window"]["bin"] == "30m"
    assert len(body["bins"]) in (4, 5)
    assert len(body["targets"][0]["requests"]["series"]["requests"]) == len(body["bins"])


@pytest.mark.inference
def test_real_inference_server_telemetry(cli: Any, emulator: Emulator) -> None:
    """Scored through a real azureml-inference-server-http: its own telemetry gives the right numbers."""
    import json
    import ssl
    import time
    import urllib.error
    import urllib.request

    status, body = emulator.admin("PUT", "/_emulator/settings", {"inferenceExportSeconds": 0.5})
    assert status == 200, body
    suffix = uuid.uuid4().hex[:8]
    name = f"live-{suffix}"
    ws = {
        "subscription": str(uuid.uuid4()),
        "resourceGroup": f"rg-live-{suffix}",
        "name": f"ws-live-{suffix}",
    }
    service = {"name": name, "computeType": "ACI", "backend": "inference", "appInsightsEnabled": True}
    status, created = emulator.admin("POST", "/_emulator/workspaces", {**ws, "services": [service]})
    assert status in (200, 201), created
    context = ssl.create_default_context(cafile=emulator.ca_path)
    url = f"{emulator.endpoint}/api/v1/service/{name}/score"
    codes = []
    for payload in [{"data": [[12, 70, 1, 1]]}] * 5 + [{"data": [[1, 2]]}] * 2:
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=context, timeout=60) as response:
                codes.append(response.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert codes == [200] * 5 + [500] * 2
    scope = ["--subscription", ws["subscription"], "-g", ws["resourceGroup"], "-w", ws["name"], "-o", "json"]
    deadline = time.time() + 30
    while True:
        result = cli("stats", name, "--since", "10m", *scope)
        assert result.exit_code == 0, result.stderr
        target = result.json()["targets"][0]
        if (target["requests"]["count"], target["exceptions"]["count"]) == (7, 2) or time.time() > deadline:
            break
        time.sleep(0.5)
    req = target["requests"]
    assert (req["count"], req["failures"]) == (7, 2)
    assert {c["code"]: c["count"] for c in req["resultCodes"]} == {"200": 5, "500": 2}
    # 2 failures and real codes: read from the properties (1.5.x placeholders say success, code "0").
    # Latency is real too, but this sample model answers in under a millisecond, which the server rounds to 0.
    assert req["p99"] is not None and req["p99"] >= 0
    assert target["exceptions"]["count"] == 2
    top = target["exceptions"]["top"][0]
    assert top["type"].endswith("BadModelInput"), top  # the user's error, not UserScriptException
    assert top["latestMessage"].startswith("row 0 must hold 4 numbers"), top


def test_stats_and_check_tables_end_no_line_with_a_space(cli: Any, seeded: dict[str, Any]) -> None:
    stats = cli("stats", NEW, OLD, "--since", "2h", *seeded["scope"], "-o", "table")
    check = cli("check", NEW, "--since", "2h", "--max-failure-rate", "50%", *seeded["scope"], "-o", "table")
    for result in (stats, check):
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip(), "a table was printed"
        assert [line for line in result.stdout.splitlines() if line != line.rstrip()] == []


def test_stats_tsv_is_one_row_per_target_with_flat_columns(cli: Any, seeded: dict[str, Any]) -> None:
    result = cli("stats", NEW, OLD, "--since", "2h", *seeded["scope"], "-o", "tsv")
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == [NEW, OLD], rows
    assert len({len(row) for row in rows}) == 1, "the same columns on every row"
    assert not any(field.startswith(("{", "[")) for row in rows for field in row), "no JSON blobs"
    as_json = _stats(cli, seeded, NEW, OLD)
    for row in rows:
        requests = as_json[row[0]]["requests"]
        assert str(requests["count"]) in row and str(requests["failures"]) in row
