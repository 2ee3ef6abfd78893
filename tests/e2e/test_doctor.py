"""`amlmon doctor` through the CLI against the emulator: every check made to fail (or warn) and to pass.

Telemetry comes from the real inference server's envelopes (../shared/reference/inference-server-
telemetry) posted to the emulator's ingestion, or from its seeder; broken settings are set through the
emulator's admin API (PATCH /_emulator/resources), as an operator would set them in the portal.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers import deliver_export, exporting_since

SERVICE = "my-service"  # the service name inside the real envelopes


def _telemetry_dir() -> Path:
    for base in REPO_ROOT.parents:
        candidate = base / "shared" / "reference" / "inference-server-telemetry"
        if candidate.is_dir():
            return candidate
    pytest.skip("the real inference-server envelopes (../shared/reference) are not beside the checkout")


def real_envelope(name: str, **tags: str) -> dict[str, Any]:
    """One real envelope, timed now (so it falls in doctor's window), with `tags` overridden."""
    envelope = json.loads((_telemetry_dir() / name).read_text())
    envelope = copy.deepcopy(envelope)
    envelope["time"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    envelope["tags"] = {**envelope.get("tags", {}), **tags}
    return envelope


def ingest(emulator: Any, ws: dict[str, Any], envelopes: list[dict[str, Any]]) -> None:
    status, answer = emulator.admin(
        "POST",
        "/_emulator/telemetry/rows",
        {
            "instrumentationKey": ws["instrumentationKey"],
            "envelopes": [{**e, "iKey": None} for e in envelopes],
        },
    )
    assert status == 200, answer


def set_properties(emulator: Any, resource_id: str, properties: dict[str, Any], **extra: Any) -> None:
    status, answer = emulator.admin(
        "PATCH", "/_emulator/resources", {"id": resource_id, "properties": properties, **extra}
    )
    assert status == 200, answer


def workspace(emulator: Any, *, services: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    default = [{"name": SERVICE, "computeType": "ACI", "appInsightsEnabled": True, "storageEnabled": True}]
    return dict(
        emulator.create_workspace("doctor", services=default if services is None else services, **extra)
    )


def doctor(cli: Any, ws: dict[str, Any], *args: str) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    result = cli("doctor", *args, *ws["scope"], "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    rows = result.json()
    return result.exit_code, {(row["check"], row["target"]): row for row in rows}


def status(rows: dict[tuple[str, str], dict[str, Any]], check: str, target: str = "-") -> str:
    return str(rows[(check, target)]["status"])


@pytest.fixture(scope="module")
def healthy(emulator: Any) -> dict[str, Any]:
    """A v1 service with App Insights and model data on, real 1.5.1 telemetry ingested."""
    ws = workspace(emulator)
    ingest(
        emulator,
        ws,
        [
            real_envelope("v1.5.1-request-200.json"),
            real_envelope("v1.5.1-message-print-run.json"),
            real_envelope("v1.5.1-message-model_data_collection.json"),
            real_envelope("v1.5.1-exception.json"),
        ],
    )
    return ws


def test_healthy_service_passes_every_check_and_exits_0_fast(
    cli: Any, emulator: Any, healthy: dict[str, Any]
) -> None:
    since = emulator.last_seq()
    started = time.monotonic()
    code, rows = doctor(cli, healthy)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 10, elapsed
    sent = emulator.requests_since(since)
    writes = [
        (r["method"], r["path"])
        for r in sent
        if r["method"] != "GET"
        and not (r["method"] == "POST" and r["path"].endswith("/query"))
        and "/oauth2/" not in r["path"]
    ]
    assert sent and writes == []  # doctor only reads: ARM GETs and queries
    for check in (
        "workspace.app-insights",
        "workspace.workspace-based",
        "workspace.log-analytics",
        "ingestion.local-auth",
        "ingestion.daily-cap",
        "ingestion.sampling",
        "ingestion.component-cap",
        "telemetry.unnamed",
    ):
        assert status(rows, check) == "ok", rows[(check, "-")]
    for check in ("v1.state", "v1.app-insights", "v1.model-data", "v1.model-data-truncated"):
        assert status(rows, check, SERVICE) == "ok", rows[(check, SERVICE)]
    for kind in ("request", "trace", "model-data", "exception"):
        row = rows[(f"v1.newest-{kind}", SERVICE)]
        assert row["status"] == "ok"
        assert "1 row in" in row["evidence"] and "1.5.x" in row["evidence"], row
    assert not any(row["status"] == "fail" for row in rows.values())


def test_table_output_shows_status_evidence_and_fix(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator, services=[{"name": "quiet", "computeType": "ACI", "appInsightsEnabled": False}])
    result = cli("doctor", *ws["scope"], "-o", "table")
    assert result.exit_code == 1
    assert "FAIL  v1.app-insights quiet: appInsightsEnabled false" in result.stdout
    assert "fix: amlmon diagnostics enable quiet" in result.stdout
    assert "fail" in result.stdout.splitlines()[-1]
    as_json = cli("doctor", *ws["scope"], "-o", "json")
    assert as_json.exit_code == 1
    checks = [line for line in result.stdout.splitlines() if line[:4] in ("ok  ", "WARN", "FAIL", "skip")]
    assert len(checks) == len(as_json.json())  # the same rows
    assert [row["check"] for row in as_json.json()] == [line.split()[1].rstrip(":") for line in checks]


# --- workspace ------------------------------------------------------------------------------------------
def test_workspace_without_app_insights_fails(cli: Any, emulator: Any) -> None:
    code, rows = doctor(cli, workspace(emulator, appInsights=False))
    assert code == 1
    row = rows[("workspace.app-insights", "-")]
    assert row["status"] == "fail" and "no linked Application Insights" in row["evidence"]
    assert "--application-insights" in row["fix"]
    assert status(rows, "v1.telemetry", SERVICE) == "skip"  # nothing to query, said once
    assert status(rows, "telemetry.unnamed") == "skip"


def test_classic_component_warns_and_missing_log_analytics_fails(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    set_properties(
        emulator, ws["appInsightsId"], {"WorkspaceResourceId": None, "IngestionMode": "ApplicationInsights"}
    )
    _, rows = doctor(cli, ws)
    assert status(rows, "workspace.workspace-based") == "warn"
    assert "IngestionMode ApplicationInsights" in rows[("workspace.workspace-based", "-")]["evidence"]

    gone = ws["logAnalyticsId"].rsplit("/", 1)[0] + "/deleted-law"
    set_properties(
        emulator, ws["appInsightsId"], {"WorkspaceResourceId": gone, "IngestionMode": "LogAnalytics"}
    )
    code, rows = doctor(cli, ws)
    assert code == 1
    assert status(rows, "workspace.workspace-based") == "ok"
    assert status(rows, "workspace.log-analytics") == "fail"
    assert "does not exist" in rows[("workspace.log-analytics", "-")]["evidence"]


@pytest.mark.usefixtures("clear_faults")
def test_log_analytics_workspace_the_caller_may_not_read_fails(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    la_name = ws["logAnalyticsId"].rsplit("/", 1)[-1]
    status_code, _ = emulator.admin(
        "POST", "/_emulator/faults", {"path": la_name + "$", "status": 403, "count": 10}
    )
    assert status_code == 201
    code, rows = doctor(cli, ws)
    assert code == 1
    row = rows[("workspace.log-analytics", "-")]
    assert row["status"] == "fail" and "403" in row["evidence"]
    assert "Log Analytics Reader" in row["fix"]


# --- ingestion ------------------------------------------------------------------------------------------
def test_local_auth_disabled_with_key_only_senders_fails(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    set_properties(emulator, ws["appInsightsId"], {"DisableLocalAuth": True})
    code, rows = doctor(cli, ws)
    assert code == 1
    row = rows[("ingestion.local-auth", "-")]
    assert row["status"] == "fail"
    assert "no data at all" in row["evidence"] and SERVICE in row["evidence"]
    assert "DisableLocalAuth=false" in row["fix"]


def test_local_auth_disabled_without_senders_only_warns(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator, services=[{"name": "off", "computeType": "ACI", "appInsightsEnabled": False}])
    set_properties(emulator, ws["appInsightsId"], {"DisableLocalAuth": True})
    _, rows = doctor(cli, ws)
    assert status(rows, "ingestion.local-auth") == "warn"


def _track(emulator: Any, envelopes: list[dict[str, Any]], token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        emulator.endpoint + "/v2.1/track", data=json.dumps(envelopes).encode(), headers=headers, method="POST"
    )
    context = ssl.create_default_context(cafile=emulator.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_ingestion_refuses_key_only_envelopes_when_local_auth_is_disabled(emulator: Any) -> None:
    ws = workspace(emulator)
    envelope = {**real_envelope("v1.5.1-request-200.json"), "iKey": ws["instrumentationKey"]}
    assert _track(emulator, [envelope])[0] == 200  # positive control: accepted with the key while allowed
    set_properties(emulator, ws["appInsightsId"], {"DisableLocalAuth": True})
    code, answer = _track(emulator, [envelope, envelope])
    assert code == 401
    assert answer["itemsReceived"] == 2 and answer["itemsAccepted"] == 0
    assert {error["statusCode"] for error in answer["errors"]} == {401}
    token = emulator.credential().get_token("https://monitor.azure.com/.default").token
    code, answer = _track(emulator, [envelope], token=token)  # Entra-authenticated: accepted
    assert code == 200 and answer["itemsAccepted"] == 1


def test_daily_cap_reached_fails_and_approaching_warns(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    set_properties(
        emulator,
        ws["logAnalyticsId"],
        {"workspaceCapping": {"dailyQuotaGb": 0.5, "dataIngestionStatus": "OverQuota"}},
    )
    code, rows = doctor(cli, ws)
    assert code == 1
    row = rows[("ingestion.daily-cap", "-")]
    assert (
        row["status"] == "fail" and "daily cap 0.5 GB" in row["evidence"] and "OverQuota" in row["evidence"]
    )
    assert "--quota" in row["fix"]
    set_properties(
        emulator, ws["logAnalyticsId"], {"workspaceCapping": {"dataIngestionStatus": "ApproachingQuota"}}
    )
    _, rows = doctor(cli, ws)
    assert status(rows, "ingestion.daily-cap") == "warn"


def test_component_daily_cap_reached_fails(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    status_code, answer = emulator.admin(
        "PATCH",
        "/_emulator/resources",
        {"id": ws["appInsightsId"] + "/quotastatus", "body": {"ShouldBeThrottled": True}},
    )
    assert status_code == 200, answer
    code, rows = doctor(cli, ws)
    assert code == 1
    row = rows[("ingestion.component-cap", "-")]
    assert row["status"] == "fail" and "component daily cap 100 GB reached" in row["evidence"]
    assert "billing update" in row["fix"] and "--cap" in row["fix"]


def test_sampling_below_100_warns_by_how_much(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    set_properties(emulator, ws["appInsightsId"], {"SamplingPercentage": 25})
    _, rows = doctor(cli, ws)
    row = rows[("ingestion.sampling", "-")]
    assert row["status"] == "warn"
    assert "keeps 25 %" in row["evidence"] and "75 % are dropped" in row["evidence"]
    assert "--sampling-percentage 100" in row["fix"]


# --- v1 services ----------------------------------------------------------------------------------------
def test_v1_settings_failed_state_app_insights_off_model_data_off(cli: Any, emulator: Any) -> None:
    ws = workspace(
        emulator,
        services=[
            {"name": "broken", "computeType": "AKS", "state": "Failed", "appInsightsEnabled": False},
            {"name": "fine", "computeType": "ACI", "appInsightsEnabled": True, "storageEnabled": True},
        ],
    )
    code, rows = doctor(cli, ws, "broken")
    assert code == 1
    assert status(rows, "v1.state", "broken") == "fail"
    assert status(rows, "v1.app-insights", "broken") == "fail"
    assert status(rows, "v1.model-data", "broken") == "warn"
    assert rows[("v1.model-data", "broken")]["fix"] == "amlmon diagnostics enable broken --model-data"
    assert ("v1.state", "fine") not in rows  # only the named target
    code, rows = doctor(cli, ws, "fine")
    assert status(rows, "v1.state", "fine") == "ok"
    assert status(rows, "v1.app-insights", "fine") == "ok"
    assert status(rows, "v1.model-data", "fine") == "ok"


def test_no_rows_ingested_warns_per_kind(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    _, rows = doctor(cli, ws)
    for kind in ("request", "trace", "model-data"):
        assert status(rows, f"v1.newest-{kind}", SERVICE) == "warn"
    assert status(rows, "v1.newest-exception", SERVICE) == "ok"  # no exceptions is good news
    assert status(rows, "v1.model-data-truncated", SERVICE) == "skip"


def test_1_4_rows_are_attributed_to_the_1_4_generation(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    ingest(
        emulator,
        ws,
        [
            real_envelope("v1.4.1-request-200.json"),
            real_envelope("v1.4.1-message-model_data_collection.json"),
        ],
    )
    _, rows = doctor(cli, ws)
    for kind in ("request", "model-data"):
        row = rows[(f"v1.newest-{kind}", SERVICE)]
        assert row["status"] == "ok" and "1.4.x" in row["evidence"], row
    assert status(rows, "telemetry.unnamed") == "ok"  # role azmlinfsrv, but Service Name names the service


def test_truncated_model_data_share_warns_and_suggests_the_v2_collector(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    ingest(
        emulator,
        ws,
        [
            real_envelope("v1.5.1-message-model_data_collection-large-input-truncated.json"),
            real_envelope("v1.5.1-message-model_data_collection.json"),
        ],
    )
    _, rows = doctor(cli, ws)
    row = rows[("v1.model-data-truncated", SERVICE)]
    assert row["status"] == "warn"
    assert "1 of 2 model-data records (50.0 %)" in row["evidence"]
    assert "v2 data collector" in row["fix"]


# --- telemetry without a name ---------------------------------------------------------------------------
def test_rows_under_an_unknown_role_are_listed_with_the_role_to_use(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    # A print line names its service only through the role (1.5.x): here a role no target has.
    ingest(
        emulator, ws, [real_envelope("v1.5.1-message-print-run.json", **{"ai.cloud.role": "renamed-svc"})] * 3
    )
    code, rows = doctor(cli, ws)
    row = rows[("telemetry.unnamed", "-")]
    assert row["status"] == "warn"
    assert "renamed-svc (3 rows)" in row["evidence"]
    assert "--role renamed-svc" in row["fix"]
    assert code == 0  # a warning is not a failure


# --- v2 deployments -------------------------------------------------------------------------------------
def _collector(**collection: Any) -> dict[str, Any]:
    return {
        "collections": {"model_inputs": {"dataCollectionMode": "Enabled", "samplingRate": 1.0, **collection}}
    }


def test_v2_deployment_checks(cli: Any, emulator: Any) -> None:
    import uuid

    from tests.helpers import arm

    identity = {
        "subscription": str(uuid.uuid4()),
        "resourceGroup": "rg-doctor-v2",
        "name": f"ws-v2-{uuid.uuid4().hex[:8]}",
    }
    workspace_id = (
        f"/subscriptions/{identity['subscription']}/resourceGroups/rg-doctor-v2"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{identity['name']}"
    )
    asset = f"{workspace_id}/data/ep-good-model_inputs/versions/1"
    gone = f"{workspace_id}/data/ep-gone-model_inputs/versions/1"  # never registered (or deleted)
    ws = workspace(
        emulator,
        services=[],
        **identity,
        deployments=[
            {
                "endpoint": "ep",
                "name": "good",
                "appInsightsEnabled": True,
                "properties": {"dataCollector": {**_collector(dataId=asset), "rollingRate": "Hour"}},
            },
            {
                "endpoint": "ep",
                "name": "gone",
                "appInsightsEnabled": True,
                "properties": {"dataCollector": {**_collector(dataId=gone), "rollingRate": "Hour"}},
            },
            {
                "endpoint": "ep",
                "name": "nodataid",
                "appInsightsEnabled": True,
                "properties": {"dataCollector": {**_collector(), "rollingRate": "Day"}},
            },
            {
                "endpoint": "ep",
                "name": "bare",
                "appInsightsEnabled": False,
                "properties": {"provisioningState": "Failed"},
            },
        ],
    )
    uri = "azureml://datastores/workspaceblobstore/paths/modelDataCollector/ep/good/model_inputs"
    created, body, _ = arm(
        emulator,
        "PUT",
        asset,
        {"properties": {"dataType": "uri_folder", "dataUri": uri, "isAnonymous": False}},
        version="2024-04-01",
    )
    assert created in (200, 201), body
    code, rows = doctor(cli, ws)
    assert code == 1
    assert status(rows, "v2.provisioning", "ep/good") == "ok"
    assert status(rows, "v2.app-insights", "ep/good") == "ok"
    row = rows[("v2.collection.model_inputs", "ep/good")]
    assert row["status"] == "ok" and "ep-good-model_inputs:1, data asset exists" in row["evidence"], row
    assert status(rows, "v2.rolling-rate", "ep/good") == "ok"
    row = rows[("v2.collection.model_inputs", "ep/gone")]
    assert row["status"] == "fail" and "does not exist" in row["evidence"], row
    # amlmon's own asset name: `diagnostics enable` re-registers it, and the fix it prints works
    assert row["fix"] == "amlmon diagnostics enable ep/gone --model-data", row
    fixed = cli(*row["fix"].split()[1:], *ws["scope"], "-o", "json")
    assert fixed.exit_code == 0, fixed.stderr
    [result] = fixed.json()["results"]
    assert result["status"] == "changed", result
    assert {c["field"] for c in result["changes"]} >= {"model_inputs.dataAsset"}, result
    _, rows_after = doctor(cli, ws, "ep/gone")
    assert rows_after[("v2.collection.model_inputs", "ep/gone")]["status"] == "ok"
    row = rows[("v2.collection.model_inputs", "ep/nodataid")]
    assert row["status"] == "warn" and "no dataId" in row["evidence"]
    assert row["fix"].startswith("amlmon diagnostics enable ep/nodataid --model-data")
    assert status(rows, "v2.rolling-rate", "ep/nodataid") == "warn"
    assert status(rows, "v2.provisioning", "ep/bare") == "fail"
    assert status(rows, "v2.app-insights", "ep/bare") == "fail"
    assert status(rows, "v2.data-collector", "ep/bare") == "warn"
    row = rows[("v2.endpoint-logs", "ep/bare")]  # no diagnostic setting on the endpoint
    assert row["status"] == "warn" and row["fix"] == "amlmon diagnostics enable ep --endpoint-logs"
    assert status(rows, "v2.endpoint-log-rows", "ep/bare") == "skip"
    assert status(rows, "v2.collection-errors", "ep/bare") == "ok"  # the metrics call answered
    code, rows = doctor(cli, ws, "ep/good")
    assert code == 0 and {target for _, target in rows} == {"-", "ep/good"}


# --- export ---------------------------------------------------------------------------------------------
def test_export_setting_absent_then_present_in_region_then_out_of_region(cli: Any, emulator: Any) -> None:
    near = f"doctornear{int(time.time() * 1000) % 10**8}"
    ws = workspace(emulator, location="eastus", storageAccounts=[{"name": near, "location": "eastus"}])
    _, rows = doctor(cli, ws)
    assert status(rows, "export.setting") == "skip"
    assert "amlmon export enable" in rows[("export.setting", "-")]["fix"]

    enabled = cli("export", "enable", "--storage-account", near, *ws["scope"], "-o", "json")
    assert enabled.exit_code == 0, enabled.stderr
    _, rows = doctor(cli, ws)
    assert status(rows, "export.setting") == "ok"
    assert status(rows, "export.storage-region") == "ok"
    assert status(rows, "export.delivery") == "skip"  # no blob endpoint serves this account here

    account_id = (
        ws["appInsightsId"].split("/providers/")[0] + f"/providers/Microsoft.Storage/storageAccounts/{near}"
    )
    set_properties(emulator, account_id, {}, location="westeurope")
    code, rows = doctor(cli, ws)
    assert code == 1
    row = rows[("export.storage-region", "-")]
    assert row["status"] == "fail" and "westeurope" in row["evidence"] and "eastus" in row["evidence"]


# --- usage ----------------------------------------------------------------------------------------------
def test_unknown_target_exits_3_and_bad_since_exits_2(cli: Any, healthy: dict[str, Any]) -> None:
    result = cli("doctor", "no-such-svc", *healthy["scope"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: ") and "hint: " in result.stderr
    result = cli("doctor", "--since", "yesterday-ish", *healthy["scope"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("clear_faults")
def test_throttled_queries_end_the_run_with_exit_5(cli: Any, emulator: Any) -> None:
    ws = workspace(emulator)
    component = ws["appInsightsId"].rsplit("/", 1)[-1]
    status_code, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {"path": f"{component}/query$", "status": 429, "retryAfter": 0, "count": 100},
    )
    assert status_code == 201
    result = cli("doctor", *ws["scope"])
    assert result.exit_code == 5, result.stderr
    assert result.stderr.startswith("error: ") and "throttled" in result.stderr


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.azurite import start_azurite, stop_azurite

    handle = start_azurite(tmp_path_factory.mktemp("azurite-doctor"))
    try:
        yield handle
    finally:
        stop_azurite(handle)


@pytest.mark.azurite
def test_export_delivery_newest_blob_per_table(cli: Any, emulator: Any, azurite: Any) -> None:
    account = f"doctordeliv{int(time.time() * 1000) % 10**8}"
    ws = workspace(
        emulator,
        location="eastus",
        storageAccounts=[{"name": account, "location": "eastus", "blobEndpoint": azurite.blob_endpoint}],
    )
    enabled = cli(
        "export", "enable", "--storage-account", account, "--tables", "AppTraces,AppRequests", *ws["scope"]
    )
    assert enabled.exit_code == 0, enabled.stderr
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = cli("doctor", *ws["scope"], "-o", "json", env=env)
    row = next(r for r in result.json() if r["check"] == "export.delivery")
    assert row["status"] == "warn" and "nothing delivered yet" in row["evidence"]  # readable, but empty

    # A setting exports only rows ingested after it: the seeded history needs a setting that predates it.
    exporting_since(emulator, ws, "amlmon-export", hours=3)
    emulator.seed(ws, [SERVICE], hours=2, ratePerMinute=2)
    report = deliver_export(emulator, ws, accountKey=azurite.account_key)
    assert report["records"] > 0, report
    result = cli("doctor", *ws["scope"], "-o", "json", env=env)
    row = next(r for r in result.json() if r["check"] == "export.delivery")
    assert row["status"] == "ok", row
    assert "AppTraces: newest hour" in row["evidence"] and "AppRequests: newest hour" in row["evidence"]


def _score(emulator: Any, service: str, row: list[float]) -> int:
    request = urllib.request.Request(
        f"{emulator.endpoint}/api/v1/service/{service}/score",
        data=json.dumps({"data": [row]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=emulator.ca_path)
    try:
        with urllib.request.urlopen(request, context=context, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.inference
def test_the_real_inference_server_is_refused_and_doctor_says_why(cli: Any, emulator: Any) -> None:
    """The real azureml-inference-server-http exports with its key only; with local auth disabled the
    ingestion answers 401 to each of its batches, nothing lands, and doctor names the cause."""
    ws = workspace(emulator, services=[{"name": "real-svc", "computeType": "ACI", "backend": "inference"}])
    status_code, _ = emulator.admin("PUT", "/_emulator/settings", {"inferenceExportSeconds": 0.5})
    assert status_code == 200
    set_properties(emulator, ws["appInsightsId"], {"DisableLocalAuth": True})
    enabled = cli("diagnostics", "enable", "real-svc", *ws["scope"])
    assert enabled.exit_code == 0, enabled.stderr
    since = emulator.last_seq()
    assert _score(emulator, "real-svc", [1.0, 0.5, 1.0, 2.0]) == 200
    deadline, answers = time.time() + 60, []
    while time.time() < deadline and not answers:
        answers = [
            r["status"]
            for r in emulator.requests_since(since)
            if r["method"] == "POST" and r["path"].rstrip("/").endswith("/track")
        ]
        time.sleep(0.3)
    assert answers and set(answers) == {401}, answers  # the exporter did send, and was refused
    code, rows = doctor(cli, ws, "real-svc")
    assert code == 1
    assert status(rows, "ingestion.local-auth") == "fail"
    assert status(rows, "v1.newest-request", "real-svc") == "warn"  # nothing landed


def test_a_data_id_in_another_form_is_shown_as_the_asset_not_its_version(cli: Any, emulator: Any) -> None:
    # dataId as the deployment YAML's short form, and as a datastore path: their last segment is only
    # the version (`dataId 1`); doctor names the asset (name:version), else shows the dataId whole.
    path = "azureml://datastores/workspaceblobstore/paths/modelDataCollector/ep/path/model_inputs/1"
    ws = workspace(
        emulator,
        services=[],
        deployments=[
            {
                "endpoint": "ep",
                "name": "short",
                "appInsightsEnabled": True,
                "properties": {
                    "dataCollector": {**_collector(dataId="azureml:my-inputs:3"), "rollingRate": "Hour"}
                },
            },
            {
                "endpoint": "ep",
                "name": "path",
                "appInsightsEnabled": True,
                "properties": {"dataCollector": {**_collector(dataId=path), "rollingRate": "Hour"}},
            },
        ],
    )
    _, rows = doctor(cli, ws)
    short = rows[("v2.collection.model_inputs", "ep/short")]
    assert short["status"] == "ok" and short["evidence"].endswith("dataId my-inputs:3"), short
    by_path = rows[("v2.collection.model_inputs", "ep/path")]
    assert by_path["evidence"].endswith(f"dataId {path}"), by_path


def test_a_disabled_collection_names_the_switch_that_enables_it_and_typos_get_a_suggestion(
    cli: Any, emulator: Any
) -> None:
    """request/response are switched on by --payloads, model_inputs/model_outputs by --model-data."""
    from tests.helpers import mixed_workspace

    ws = mixed_workspace(emulator)
    on = cli(
        "diagnostics", "enable", "credit-ep/blue", "--model-data", "--payloads", *ws["args"], "-o", "json"
    )
    assert on.exit_code == 0, on.stderr
    off = cli(
        "diagnostics", "disable", "credit-ep/blue", "--model-data", "--payloads", *ws["args"], "-o", "json"
    )
    assert off.exit_code == 0, off.stderr
    result = cli("doctor", "credit-ep/blue", *ws["args"], "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    fixes = {r["check"]: r["fix"] for r in result.json() if r["check"].startswith("v2.collection.")}
    for name in ("request", "response"):
        assert fixes[f"v2.collection.{name}"] == "amlmon diagnostics enable credit-ep/blue --payloads"
    for name in ("model_inputs", "model_outputs"):
        assert fixes[f"v2.collection.{name}"] == "amlmon diagnostics enable credit-ep/blue --model-data"
    typo = cli("doctor", "credit-ep/bleu", *ws["args"])
    assert typo.exit_code == 3 and "hint: did you mean credit-ep/blue " in typo.stderr, typo.stderr
    service = cli("doctor", "churn-acj", *ws["args"])
    assert service.exit_code == 3 and "did you mean churn-aci?" in service.stderr, service.stderr
    nothing = cli("doctor", "zzzzzz", *ws["args"])
    assert nothing.exit_code == 3 and "amlmon services list" in nothing.stderr
