"""doctor's pure checks: verdicts from the bodies and summaries Azure returns (no emulator needed)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from amlmon import doctor
from amlmon.errors import UsageError
from amlmon.targets import Target


def _linked(component: dict[str, Any], capping: dict[str, Any] | None = None) -> doctor.Linked:
    la_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law"
    return doctor.Linked(
        workspace={},
        component_id="/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/ai",
        component={"properties": component},
        log_analytics={"id": la_id, "properties": {"workspaceCapping": capping or {}}},
    )


def test_unnamed_ignores_known_names_and_1_4_print_lines_and_names_1_4_services_by_service_name() -> None:
    rows = [
        {"role": "svc", "service": "", "n": 10},
        {"role": "azmlinfsrv", "service": "", "n": 4},  # 1.4.x print lines: attributed by host elsewhere
        {"role": "azmlinfsrv", "service": "old-name", "n": 7},
        {"role": "platform-role", "service": "", "n": 9},
    ]
    finding = doctor.check_unnamed(rows, None, ["svc", "ep", "blue"], "24h")
    assert finding.status == "warn"
    assert finding.evidence.endswith("platform-role (9 rows), old-name (7 rows)")
    assert "azmlinfsrv" not in finding.evidence
    assert finding.fix is not None and finding.fix.endswith("--role platform-role")
    assert (
        doctor.check_unnamed(rows[:2], None, ["SVC"], "24h").status == "ok"
    )  # names compare case-insensitively
    assert doctor.check_unnamed(None, "boom", [], "24h").status == "skip"


@pytest.mark.parametrize(
    ("percent", "status", "text"),
    [
        (None, "ok", "100 %"),
        (100.0, "ok", "100 %"),
        (12.5, "warn", "87.5 % are dropped"),
        ("x", "skip", "not a number"),
    ],
)
def test_sampling_verdict(percent: Any, status: str, text: str) -> None:
    finding = doctor.check_ingestion(_linked({"SamplingPercentage": percent}), [])[2]
    assert (finding.check, finding.status) == ("ingestion.sampling", status)
    assert text in finding.evidence


@pytest.mark.parametrize(
    ("capping", "status"),
    [
        ({"dailyQuotaGb": -1.0, "dataIngestionStatus": "RespectQuota"}, "ok"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "RespectQuota"}, "ok"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "ApproachingQuota"}, "warn"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "OverQuota"}, "fail"),
        ({"dailyQuotaGb": 5.0, "dataIngestionStatus": "SubscriptionSuspended"}, "fail"),
    ],
)
def test_daily_cap_verdict(capping: dict[str, Any], status: str) -> None:
    assert doctor.check_ingestion(_linked({}, capping), [])[1].status == status


def test_local_auth_fails_only_with_key_only_senders() -> None:
    assert doctor.check_ingestion(_linked({"DisableLocalAuth": False}), ["svc"])[0].status == "ok"
    assert doctor.check_ingestion(_linked({"DisableLocalAuth": True}), [])[0].status == "warn"
    failed = doctor.check_ingestion(_linked({"DisableLocalAuth": "true"}), ["svc"])[0]
    assert failed.status == "fail" and "svc" in failed.evidence


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        (
            {"dataCollectionMode": "Enabled", "samplingRate": 1.0, "dataId": "azureml://x/data/d/versions/1"},
            "ok",
        ),
        ({"dataCollectionMode": "enabled", "dataId": "azureml://x/data/d/versions/1"}, "ok"),  # either case
        ({"dataCollectionMode": "Enabled", "samplingRate": 1.0}, "warn"),
        ({"dataCollectionMode": "Disabled", "dataId": "d"}, "warn"),
        ({"dataCollectionMode": "Enabled", "samplingRate": 0, "dataId": "d"}, "fail"),
    ],
)
def test_collection_verdict(spec: dict[str, Any], status: str) -> None:
    assert doctor.collection_finding("ep/dep", "model_inputs", spec).status == status


def test_generation_from_the_share_of_azmlinfsrv_rows() -> None:
    assert doctor.generation(0, 0) == "none"
    assert doctor.generation(5, 0) == "1.5.x"
    assert doctor.generation(5, 5) == "1.4.x"
    assert doctor.generation(5, 2) == "1.4.x and 1.5.x"


def test_select_names_services_endpoints_and_deployments_and_reports_unknown() -> None:
    services = [{"name": "svc"}]
    deployments = [({"name": "ep"}, {"name": "blue"}), ({"name": "ep"}, {"name": "green"})]
    assert doctor.select([], services, deployments) == (services, deployments, [])
    chosen = doctor.select([Target("ep"), Target("SVC")], services, deployments)
    assert chosen == (services, deployments, [])
    assert doctor.select([Target("ep", "blue")], services, deployments)[1] == deployments[:1]
    assert doctor.select([Target("nope")], services, deployments)[2] == ["nope"]


def test_service_queries_escape_the_name() -> None:
    queries = doctor.service_queries('we"ird')
    assert all('"we\\"ird"' in text for text in queries.values()), queries
    with pytest.raises(UsageError):
        from amlmon.targets import parse_target

        parse_target('we"ird')  # the CLI never lets such a name through; the queries escape it anyway


def test_query_pool_runs_queries_concurrently_but_never_more_than_5_at_once() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def query(text: str, window: dt.timedelta) -> list[dict[str, Any]]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return [{"text": text}]

    pool = doctor.QueryPool(query, dt.timedelta(hours=1))
    pending = [pool.start(f"q{i}") for i in range(12)]
    assert [p.result()[0]["text"] for p in pending] == [f"q{i}" for i in range(12)]
    assert peak[0] == doctor.MAX_CONCURRENT_QUERIES  # concurrent, and capped
    # The Log Analytics route (endpoint log tables) shares the limit: it is per user, not per route.
    peak[0] = 0
    mixed = [pool.start(f"a{i}") for i in range(6)] + [pool.start_on(query, f"l{i}") for i in range(6)]
    assert [p.result()[0]["text"] for p in mixed][-1] == "l5"
    assert peak[0] == doctor.MAX_CONCURRENT_QUERIES


# --- v2 endpoint checks -----------------------------------------------------------------------------
def _console_rows(
    messages: list[str], endpoint: str = "ep", resource: str = "/SUBSCRIPTIONS/S/ONLINEENDPOINTS/EP"
) -> list[dict[str, Any]]:
    """console_query run by the KQL engine the emulator uses, on lines as the real packages print them."""
    import duckdb
    import duckdb_kql

    from amlmon.doctor import console_log

    con = duckdb.connect()
    con.execute(
        "create table AmlOnlineEndpointConsoleLog (TimeGenerated timestamp, DeploymentName varchar, "
        "Message varchar, _ResourceId varchar)"
    )
    start = dt.datetime(2026, 11, 30, 12, 0)
    for index, message in enumerate(messages):
        con.execute(
            "insert into AmlOnlineEndpointConsoleLog values (?, 'blue', ?, ?)",
            [start + dt.timedelta(seconds=index), message, resource],
        )
    relation = duckdb_kql.query(con, console_log.console_query(endpoint))
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


# The exact lines: azureml-ai-monitoring 1.0.0's logger format "%(asctime)s | %(name)s | %(levelname)s |
# %(message)s" and messages (init.py, collector_json.py, queue/queue.py, worker/sender.py); score.py's
# on_error prints the exception; azureml-inference-server-http 1.5.1 amlserver.py's start-up lines.
START = ["", "Azure ML Inferencing HTTP server v1.5.1", "Server Settings"]
TRAP_LINES = {
    "collector-disabled": "2026-11-30 12:00:01,000 | mdc | WARNING | data collector is not enabled",
    "collector-not-initialized": "data collector: data collector is not initialized",
    "queue-full": "data collector: Too many requests lead to message queue is full, please reduce the number of requests.",
    "sidecar-refused": "2026-11-30 12:00:01,000 | mdc.sender | ERROR | failed to send json payload: 500, ",
    "app-insights-off": "Application Insights Enabled: false",
}


@pytest.mark.parametrize("trap", sorted(TRAP_LINES))
def test_console_query_names_each_trap_by_its_exact_line(trap: str) -> None:
    from amlmon.doctor import console_log

    rows = _console_rows([*START, TRAP_LINES[trap], "Application Insights Enabled: true"])
    assert {r["trap"] for r in rows} == {"start", trap}
    found = {f.check: f for f in console_log.console_findings("ep/blue", "blue", rows, None, "24h")}
    if trap == "app-insights-off":
        assert found["v2.console-app-insights"].status == "fail"
        assert found["v2.console-collector"].status == "ok"
    else:
        assert found["v2.console-collector"].status == "fail"
        assert found["v2.console-app-insights"].status == "ok"  # "true" is not the trap
        assert TRAP_LINES[trap] in found["v2.console-collector"].evidence


def test_console_failures_before_the_newest_start_are_history() -> None:
    from amlmon.doctor import console_log

    lines = [*START, TRAP_LINES["queue-full"], "data collector is not enabledX", *START]
    rows = _console_rows(lines)
    found = {f.check: f for f in console_log.console_findings("ep/blue", "blue", rows, None, "24h")}
    assert found["v2.console-collector"].status == "ok"  # the queue filled before the restart
    positive = _console_rows([*START, TRAP_LINES["queue-full"]])  # the control: after the start, it counts
    found = {f.check: f for f in console_log.console_findings("ep/blue", "blue", positive, None, "24h")}
    assert found["v2.console-collector"].status == "fail"
    assert "scale out" in str(found["v2.console-collector"].fix)
    none = console_log.console_findings("ep/blue", "blue", [], None, "24h")
    assert {f.status for f in none} == {"skip"}  # no start in the window: nothing to judge


def test_console_query_escapes_the_endpoint_name() -> None:
    from amlmon.doctor import endpoints_v2

    # Run on the KQL engine, not compared as text: a name with a quote of each kind matches its own
    # rows (Azure writes the resource id upper-case) and not another endpoint's.
    name = "ep'x\"y"
    own = _console_rows(START, endpoint=name, resource=f"/SUBSCRIPTIONS/S/ONLINEENDPOINTS/{name.upper()}")
    assert [r["trap"] for r in own] == ["start"]
    assert _console_rows(START, endpoint=name) == []  # the rows of endpoint "ep"
    assert [r["trap"] for r in _console_rows(START)] == ["start"]  # the control: "ep" matches them
    assert endpoints_v2.rows_query("ep").startswith(
        "union withsource=SourceTable AmlOnlineEndpointConsoleLog"
    )


def _metrics(*series: tuple[str, str, str, float]) -> dict[str, Any]:
    """A Metrics_List answer (SDK attribute names): (metric, deployment, reason, total) per series."""
    value: dict[str, list[dict[str, Any]]] = {}
    for metric, deployment, reason, total in series:
        value.setdefault(metric, []).append(
            {
                "metadatavalues": [
                    {"name": {"value": "deployment"}, "value": deployment},
                    {"name": {"value": "reason"}, "value": reason},
                ],
                "data": [{"total": total}],
            }
        )
    return {"value": [{"name": {"value": m}, "timeseries": s} for m, s in value.items()]}


def test_collection_errors_by_reason_fail_when_nothing_was_stored() -> None:
    from amlmon.doctor import collection_errors, endpoints_v2

    state = endpoints_v2.EndpointState("ep", "/x/onlineEndpoints/ep")
    state.metrics = _metrics(
        ("DataCollectionErrorsPerMinute", "blue", "StorageWriteFailed", 3),
        ("DataCollectionErrorsPerMinute", "blue", "InvalidPayload", 1),
        ("DataCollectionErrorsPerMinute", "green", "StorageWriteFailed", 9),
    )
    finding = collection_errors.collection_errors_finding(state, "ep/blue", "blue", "24h")
    assert finding.status == "fail"
    assert "4 DataCollectionErrorsPerMinute" in finding.evidence
    assert "StorageWriteFailed: 3, InvalidPayload: 1" in finding.evidence
    state.metrics = _metrics(
        ("DataCollectionEventsPerMinute", "blue", "", 5),
        ("DataCollectionErrorsPerMinute", "blue", "StorageUnavailable", 1),
    )
    assert collection_errors.collection_errors_finding(state, "ep/blue", "blue", "24h").status == "warn"
    state.metrics = _metrics(("DataCollectionEventsPerMinute", "blue", "", 5))
    ok = collection_errors.collection_errors_finding(state, "ep/blue", "blue", "24h")
    assert ok.status == "ok" and "(5 events)" in ok.evidence


def test_collection_with_a_missing_data_asset_fails_with_the_asset_to_register() -> None:
    data_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/data/ep-dep-model_inputs/versions/2"
    spec = {"dataCollectionMode": "Enabled", "samplingRate": 1.0, "dataId": data_id}
    gone = doctor.collection_finding("ep/dep", "model_inputs", spec, asset_exists=False)
    assert gone.status == "fail" and gone.fix is not None
    assert gone.fix.startswith("az ml data create --name ep-dep-model_inputs --version 2 --type uri_folder")
    there = doctor.collection_finding("ep/dep", "model_inputs", spec, asset_exists=True)
    assert there.status == "ok" and there.evidence.endswith("ep-dep-model_inputs:2, data asset exists")
