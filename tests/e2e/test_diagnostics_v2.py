"""Every telemetry pipe of a v2 online deployment through `amlmon diagnostics` against the emulator:
App Insights, the data collector (model data, payloads) with its data assets, and endpoint logs."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import (
    arm,
    deployment_path,
    mixed_workspace,
    one_deployment_workspace,
    wait_succeeded,
)

DIAG_API = "2021-05-01-preview"
COLLECTOR = "properties.dataCollector"
CATEGORIES = ["AmlOnlineEndpointConsoleLog", "AmlOnlineEndpointTrafficLog", "AmlOnlineEndpointEventLog"]


def _arm_writes(emulator: Any, since: int) -> list[tuple[str, str, int]]:
    """Every ARM write after `since`: deployments, data assets, diagnostic settings."""
    return [
        (r["method"], r["path"], r["status"])
        for r in emulator.requests_since(since)
        if r["method"] in ("PUT", "PATCH", "DELETE", "POST") and r["path"].startswith("/subscriptions/")
    ]


def _diag_settings(emulator: Any, ws: dict[str, Any]) -> dict[str, Any]:
    path = f"{ws['id']}/onlineEndpoints/ep/providers/Microsoft.Insights/diagnosticSettings"
    status, body, _ = arm(emulator, "GET", path, None, version=DIAG_API)
    assert status == 200, body
    return {s["name"]: s for s in body["value"]}


def _status(cli: Any, ws: dict[str, Any], target: str = "ep/blue") -> dict[str, Any]:
    result = cli("diagnostics", "status", target, *ws["args"], "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = result.json()
    return rows[0]


def test_each_pipe_on_then_off_and_status_shows_it(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    path = deployment_path(ws, "ep", "blue")
    before = _status(cli, ws)
    assert before["diagnostics"] is False and before["dataCollector"]["collections"] == {}
    assert before["endpointLogs"] == {"categories": [], "destinations": []}

    args = ["--model-data", "--payloads", "--sampling-rate", "0.5", "--capture-header", "x-tenant"]
    on = cli("diagnostics", "enable", "ep/blue", *args, "--endpoint-logs", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    assert "up to an hour" in on.stderr
    by = {(r["target"], r["kind"]): r for r in on.json()["results"]}
    assert by[("ep/blue", "Managed")]["status"] == "changed"
    assert by[("ep", "endpoint")]["status"] == "changed"
    fields = {c["field"]: c["new"] for c in by[("ep/blue", "Managed")]["changes"]}
    asset = f"{ws['id']}/data/ep-blue-model_inputs/versions/1"
    assert fields["properties.appInsightsEnabled"] is True
    assert fields[f"{COLLECTOR}.collections.model_inputs.dataCollectionMode"] == "Enabled"
    assert fields[f"{COLLECTOR}.collections.request.samplingRate"] == 0.5
    assert fields[f"{COLLECTOR}.collections.model_inputs.dataId"] == asset
    assert fields[f"{COLLECTOR}.requestLogging.captureHeaders"] == ["x-tenant"]

    _, body, _ = arm(emulator, "GET", path)
    collections = body["properties"]["dataCollector"]["collections"]
    assert set(collections) == {"model_inputs", "model_outputs", "request", "response"}
    for name, spec in collections.items():
        assert spec["dataCollectionMode"] == "Enabled" and spec["samplingRate"] == 0.5
        assert spec["dataId"] == f"{ws['id']}/data/ep-blue-{name}/versions/1"
        status, data, _ = arm(emulator, "GET", spec["dataId"])
        assert status == 200 and data["properties"]["dataType"] == "uri_folder"
        assert data["properties"]["dataUri"] == (
            f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/ep/blue/{name}"
        )
    setting = _diag_settings(emulator, ws)["amlmon-endpoint-logs"]["properties"]
    assert setting["workspaceId"] == ws["logAnalyticsId"]
    assert [log["category"] for log in setting["logs"] if log["enabled"]] == CATEGORIES

    shown = _status(cli, ws)
    assert shown["diagnostics"] is True and shown["modelData"] is True
    inputs = shown["dataCollector"]["collections"]["model_inputs"]
    assert inputs == {"mode": "Enabled", "samplingRate": 0.5, "dataId": asset, "dataAssetExists": True}
    assert shown["dataCollector"]["captureHeaders"] == ["x-tenant"]
    assert shown["endpointLogs"]["categories"] == CATEGORIES
    assert shown["endpointLogs"]["destinations"][0]["workspaceId"] == ws["logAnalyticsId"]
    table = cli("services", "list", *ws["args"], "-o", "table")
    assert "Console,Traffic,Event" in table.stdout, table.stdout

    seq = emulator.last_seq()
    again = cli("diagnostics", "enable", "ep/blue", *args, "--endpoint-logs", *ws["args"], "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert {r["status"] for r in again.json()["results"]} == {"unchanged"}
    assert _arm_writes(emulator, seq) == [], "a second run writes nothing"

    off = cli(
        "diagnostics",
        "disable",
        "ep",
        "--model-data",
        "--payloads",
        "--endpoint-logs",
        "--no-app-insights",
        *ws["args"],
        "-o",
        "json",
    )
    assert off.exit_code == 0, off.stderr
    wait_succeeded(emulator, path)
    _, body, _ = arm(emulator, "GET", path)
    assert body["properties"]["appInsightsEnabled"] is True, "--no-app-insights leaves it on"
    for spec in body["properties"]["dataCollector"]["collections"].values():
        assert spec["dataCollectionMode"] == "Disabled" and spec["dataId"], "modes off, assets kept"
    assert "amlmon-endpoint-logs" not in _diag_settings(emulator, ws)

    last = cli("diagnostics", "disable", "ep/blue", *ws["args"], "-o", "json")
    assert last.exit_code == 0, last.stderr
    assert [c["field"] for c in last.json()["results"][0]["changes"]] == ["properties.appInsightsEnabled"]
    assert _status(cli, ws)["diagnostics"] is False


def test_data_assets_are_created_once_and_an_existing_one_is_reused(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    existing = f"{ws['id']}/data/ep-blue-model_inputs/versions/1"
    mine = {
        "properties": {"dataType": "uri_folder", "dataUri": "azureml://datastores/workspaceblobstore/paths/x"}
    }
    assert arm(emulator, "PUT", existing, mine)[0] == 201
    seq = emulator.last_seq()
    on = cli("diagnostics", "enable", "ep/blue", "--model-data", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    data_puts = [p for m, p, _ in _arm_writes(emulator, seq) if m == "PUT" and "/data/" in p]
    assert data_puts == [f"{ws['id']}/data/ep-blue-model_outputs/versions/1"], data_puts
    _, asset, _ = arm(emulator, "GET", existing)
    assert asset["properties"]["dataUri"].endswith("/paths/x"), "an existing asset is reused as is"
    _, body, _ = arm(emulator, "GET", deployment_path(ws, "ep", "blue"))
    assert body["properties"]["dataCollector"]["collections"]["model_inputs"]["dataId"] == existing

    off = cli("diagnostics", "disable", "ep/blue", "--model-data", *ws["args"], "-o", "json")
    assert off.exit_code == 0, off.stderr
    seq = emulator.last_seq()
    back = cli("diagnostics", "enable", "ep/blue", "--model-data", *ws["args"], "-o", "json")
    assert back.exit_code == 0, back.stderr
    assert [p for m, p, _ in _arm_writes(emulator, seq) if "/data/" in p] == [], "no second asset"


# Every property of the azure-rest-api-specs 2024-04-01 createOrUpdate examples (managed and
# Kubernetes), with this test's own values, plus a dataCollector.
RICH_COMMON: dict[str, Any] = {
    "description": "churn model, canary",
    "properties": {"team": "risk", "ticket": "RISK-118"},
    "codeConfiguration": {"codeId": "CODE_ID", "scoringScript": "src/score.py"},
    "environmentId": "ENV_ID",
    "environmentVariables": {"WORKERS": "3", "MODEL_DIR": "/var/azureml-app/m"},
    "scaleSettings": {"scaleType": "Default"},
    "requestSettings": {
        "maxQueueWait": "PT2S",
        "requestTimeout": "PT30S",
        "maxConcurrentRequestsPerInstance": 4,
    },
    "appInsightsEnabled": False,
    "livenessProbe": {
        "failureThreshold": 5,
        "successThreshold": 1,
        "timeout": "PT3S",
        "period": "PT20S",
        "initialDelay": "PT2M",
    },
    "instanceType": "Standard_F4s_v2",
    "model": "MODEL_ID",
    "modelMountPath": "/var/azureml-app/models",
    "dataCollector": {
        "collections": {
            "model_inputs": {"dataCollectionMode": "enabled", "samplingRate": 0.2, "dataId": "INPUTS_ID"},
            "model_outputs": {"dataCollectionMode": "Enabled", "samplingRate": 0.2, "dataId": "OUTPUTS_ID"},
        },
        "requestLogging": {"captureHeaders": ["x-correlation"]},
        "rollingRate": "Hour",
    },
}
RICH_MANAGED = {
    **RICH_COMMON,
    "endpointComputeType": "Managed",
    "readinessProbe": {
        "failureThreshold": 12,
        "successThreshold": 2,
        "timeout": "PT4S",
        "period": "PT15S",
        "initialDelay": "PT5S",
    },
}
RICH_KUBERNETES = {
    **RICH_COMMON,
    "endpointComputeType": "Kubernetes",
    "containerResourceRequirements": {
        "containerResourceRequests": {"cpu": "500m", "memory": "1Gi", "gpu": "0"},
        "containerResourceLimits": {"cpu": "2", "memory": "4Gi", "gpu": "1"},
    },
}


def _rich(ws: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    ids = {
        "CODE_ID": f"{ws['id']}/codes/churn-code/versions/7",
        "ENV_ID": f"{ws['id']}/environments/churn-env/versions/3",
        "MODEL_ID": f"{ws['id']}/models/churn/versions/12",
        "INPUTS_ID": f"{ws['id']}/data/my-inputs/versions/2",
        "OUTPUTS_ID": f"{ws['id']}/data/my-outputs/versions/2",
    }
    text = json.dumps(props)
    for key, value in ids.items():
        text = text.replace(f'"{key}"', json.dumps(value))
    return {
        "location": "westeurope",
        "kind": props["endpointComputeType"],
        "tags": {"owner": "risk-team", "cost-center": "4711"},
        "identity": {"type": "SystemAssigned"},
        "sku": {"name": "Default", "tier": "Standard", "size": "S1", "family": "F", "capacity": 2},
        "properties": json.loads(text),
    }


def _put_rich(emulator: Any, ws: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    path = deployment_path(ws, "ep", "blue")
    status, answer, _ = arm(emulator, "PUT", path, _rich(ws, props))
    assert status in (200, 201), answer
    wait_succeeded(emulator, path)
    return dict(arm(emulator, "GET", path)[1])


def _without(body: dict[str, Any], changed: list[str]) -> dict[str, Any]:
    """The body with amlmon's fields and what the service rewrites on every write removed."""
    body = json.loads(json.dumps(body))
    body["properties"].pop("provisioningState", None)
    body.pop("systemData", None)
    for field in changed:
        node = body
        *parents, leaf = field.split(".")
        for part in parents:
            node = node.get(part) or {}
        node.pop(leaf, None)
    return body


def test_a_rich_deployment_keeps_every_field_but_the_ones_changed(cli: Any, emulator: Any) -> None:
    for compute, props in (("Managed", RICH_MANAGED), ("Kubernetes", RICH_KUBERNETES)):
        ws = one_deployment_workspace(emulator, compute)
        before = _put_rich(emulator, ws, props)
        assert before["properties"]["dataCollector"]["collections"]["model_inputs"]["dataId"].endswith(
            "my-inputs/versions/2"
        )
        result = cli(
            "diagnostics",
            "enable",
            "ep/blue",
            "--model-data",
            "--payloads",
            "--rolling-rate",
            "day",
            *ws["args"],
            "-o",
            "json",
        )
        assert result.exit_code == 0, result.stderr
        assert "hourly folders" in result.stderr, "a non-hourly rollingRate is warned about"
        changes = result.json()["results"][0]["changes"]
        changed = [c["field"] for c in changes]
        # model_inputs was `enabled` (lower case): the same mode, not a change
        assert f"{COLLECTOR}.collections.model_inputs.dataCollectionMode" not in changed
        assert f"{COLLECTOR}.collections.model_inputs.dataId" not in changed, "own dataId kept"
        assert f"{COLLECTOR}.collections.request.dataCollectionMode" in changed
        assert f"{COLLECTOR}.rollingRate" in changed
        after = dict(arm(emulator, "GET", deployment_path(ws, "ep", "blue"))[1])
        assert after["properties"]["dataCollector"]["rollingRate"] == "Day"
        new_collections = [f"{COLLECTOR}.collections.request", f"{COLLECTOR}.collections.response"]
        skip = [*changed, *new_collections]
        assert _without(after, skip) == _without(before, skip), compute
        assert (
            after["properties"]["dataCollector"]["collections"]["request"]["dataCollectionMode"] == "Enabled"
        )


def test_a_round_trip_at_a_version_without_the_collector_is_refused(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    before = _put_rich(emulator, ws, RICH_MANAGED)
    # Stage a service whose 2024-04-01 model lacks dataCollector: it reads without it and would drop it.
    assert emulator.admin("PUT", "/_emulator/settings", {"withoutDataCollector": ["2024-04-01"]})[0] == 200
    seq = emulator.last_seq()
    try:
        refused = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
        dry = cli("diagnostics", "enable", "ep/blue", "--dry-run", *ws["args"], "-o", "json")
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"withoutDataCollector": []})
    assert refused.exit_code == 1, refused.stderr
    reason = refused.json()["results"][0]["reason"]
    assert "would not carry back properties.dataCollector" in reason and "nothing was written" in reason
    assert dry.exit_code == 1, "--dry-run reports the same refusal"
    assert _arm_writes(emulator, seq) == [], "nothing written"
    assert arm(emulator, "GET", deployment_path(ws, "ep", "blue"))[1]["properties"] == before["properties"]

    # Positive control: the same command when the version models every field.
    done = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    assert done.exit_code == 0, done.stderr
    after = dict(arm(emulator, "GET", deployment_path(ws, "ep", "blue"))[1])
    assert after["properties"]["dataCollector"] == before["properties"]["dataCollector"]


def test_dry_run_shows_every_field_change_and_writes_nothing(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    seq = emulator.last_seq()
    dry = cli(
        "diagnostics",
        "enable",
        "ep",
        "--model-data",
        "--endpoint-logs",
        "--dry-run",
        *ws["args"],
        "-o",
        "json",
    )
    assert dry.exit_code == 0, dry.stderr
    doc = dry.json()
    assert doc["dryRun"] is True and doc["summary"]["would-change"] == 2
    by = {r["kind"]: r for r in doc["results"]}
    fields = [c["field"] for c in by["Managed"]["changes"]]
    assert fields == [
        "properties.appInsightsEnabled",
        f"{COLLECTOR}.collections.model_inputs.dataCollectionMode",
        f"{COLLECTOR}.collections.model_inputs.dataId",
        f"{COLLECTOR}.collections.model_outputs.dataCollectionMode",
        f"{COLLECTOR}.collections.model_outputs.dataId",
    ]
    assert by["endpoint"]["changes"] == [
        {
            "field": "diagnosticSettings/amlmon-endpoint-logs",
            "old": None,
            "new": {"categories": CATEGORIES, "workspaceId": ws["logAnalyticsId"]},
        }
    ]
    assert _arm_writes(emulator, seq) == [], "--dry-run writes nothing"
    table = cli("diagnostics", "enable", "ep", "--model-data", "--dry-run", *ws["args"], "-o", "table")
    assert "model_inputs.dataCollectionMode: - → Enabled" in table.stdout, table.stdout


def test_endpoint_logs_never_touch_other_settings_and_respect_the_limit(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    base = f"{ws['id']}/onlineEndpoints/ep/providers/Microsoft.Insights/diagnosticSettings"
    theirs = {
        "properties": {
            "workspaceId": ws["logAnalyticsId"],
            "logs": [{"category": "AmlOnlineEndpointConsoleLog", "enabled": True}],
        }
    }
    assert arm(emulator, "PUT", f"{base}/ops-console", theirs, version=DIAG_API)[0] == 200
    on = cli("diagnostics", "enable", "ep", "--endpoint-logs", "--no-app-insights", *ws["args"], "-o", "json")
    assert on.exit_code == 0, on.stderr
    assert set(_diag_settings(emulator, ws)) == {"ops-console", "amlmon-endpoint-logs"}
    off = cli(
        "diagnostics", "disable", "ep", "--endpoint-logs", "--no-app-insights", *ws["args"], "-o", "json"
    )
    assert off.exit_code == 0, off.stderr
    assert set(_diag_settings(emulator, ws)) == {"ops-console"}, "only amlmon's own setting is removed"

    for index in range(4):
        assert arm(emulator, "PUT", f"{base}/ops-{index}", theirs, version=DIAG_API)[0] == 200
    seq = emulator.last_seq()
    full = cli(
        "diagnostics", "enable", "ep", "--endpoint-logs", "--no-app-insights", *ws["args"], "-o", "json"
    )
    assert full.exit_code == 1, full.stderr
    row = next(r for r in full.json()["results"] if r["kind"] == "endpoint")
    assert "already has 5 diagnostic settings" in row["reason"]
    assert _arm_writes(emulator, seq) == []


def test_where_the_newer_version_is_not_offered_only_the_body_is_checked(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    settings = {"unsupportedApiVersions": ["2024-10-01-preview"]}
    assert emulator.admin("PUT", "/_emulator/settings", settings)[0] == 200
    try:
        result = cli("diagnostics", "enable", "ep/blue", *ws["args"], "-o", "json")
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"unsupportedApiVersions": []})
    assert result.exit_code == 0, result.stderr
    assert "2024-10-01-preview is not offered here" in result.stderr
    assert result.json()["results"][0]["status"] == "changed"


def test_bad_pipe_options_are_usage_errors(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    seq = emulator.last_seq()
    alone = cli("diagnostics", "enable", "ep/blue", "--sampling-rate", "0.5", *ws["args"])
    assert alone.exit_code == 2 and "error:" in alone.stderr and "hint: add --model-data" in alone.stderr
    high = cli("diagnostics", "enable", "ep/blue", "--model-data", "--sampling-rate", "1.5", *ws["args"])
    assert high.exit_code == 2 and "between 0 and 1" in high.stderr
    weekly = cli("diagnostics", "enable", "ep/blue", "--model-data", "--rolling-rate", "weekly", *ws["args"])
    assert weekly.exit_code == 2 and "minute, hour, day, month, year" in weekly.stderr
    assert "Traceback" not in alone.stderr + high.stderr + weekly.stderr
    assert _arm_writes(emulator, seq) == []


def test_v1_ignores_the_sampling_rate_and_says_so(cli: Any, emulator: Any) -> None:
    ws = mixed_workspace(emulator)
    args = ["diagnostics", "enable", "churn-aci", "--model-data", "--dry-run", *ws["args"], "-o", "json"]
    result = cli(*args, "--sampling-rate", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "warning: --sampling-rate applies to v2 deployments only; v1 services ignore it" in result.stderr
    # Positive control: without the v2 option, no such warning.
    plain = cli(*args)
    assert plain.exit_code == 0 and "v1 services ignore" not in plain.stderr
    # --endpoint-logs on a v1 service: that it is ignored, not the wait for a setting that is never made
    logs = cli(*args, "--endpoint-logs", "--payloads")
    assert logs.exit_code == 0, logs.stderr
    assert (
        "--payloads and --endpoint-logs apply to v2 deployments only; v1 services ignore them" in logs.stderr
    )
    assert "up to an hour" not in logs.stderr


def test_a_capture_header_that_is_no_http_token_is_refused(cli: Any, emulator: Any) -> None:
    ws = one_deployment_workspace(emulator)
    since = emulator.last_seq()
    base = ["diagnostics", "enable", "ep/blue", "--model-data", "--payloads", "--dry-run", *ws["args"]]
    for bad in ("bad header", "x-a:b", 'x"q'):
        result = cli(*base, "--capture-header", bad)
        assert result.exit_code == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[0] == f"error: --capture-header {bad!r} is not an HTTP header name"
        assert lines[1].startswith("hint: HTTP header names are tokens") and len(lines) == 2
    assert _arm_writes(emulator, since) == []
    good = cli(*base, "--capture-header", "x-tenant", "-o", "json")
    assert good.exit_code == 0, good.stderr


def test_a_log_analytics_workspace_that_is_no_workspace_id_is_refused_before_planning(
    cli: Any, emulator: Any
) -> None:
    """A dry run with `--log-analytics-workspace foo` predicted a setting Azure refuses (HTTP 400): the
    value must be a Log Analytics workspace resource ID, checked before anything is read."""
    from tests.helpers import OFFLINE, OFFLINE_SCOPE

    base = ["diagnostics", "enable", "ep", "--endpoint-logs", "--dry-run"]
    component = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Insights/components/ai"
    cases = {
        "foo": "error: --log-analytics-workspace 'foo' is not a Log Analytics workspace resource ID",
        "demo-law": "error: --log-analytics-workspace 'demo-law' is not a Log Analytics workspace resource ID",
        component: f"error: --log-analytics-workspace {component!r} is a Microsoft.Insights/components "
        "resource ID, not a Microsoft.OperationalInsights/workspaces one",
    }
    for value, error in cases.items():
        # The real cloud with no sign-in: a usage error comes before any call to Azure.
        result = cli(*base, "--log-analytics-workspace", value, *OFFLINE_SCOPE, env=OFFLINE)
        assert result.exit_code == 2, result.stdout + result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == error and len(lines) == 2 and result.stdout == "", result.stderr
        assert lines[1].startswith("hint: give /subscriptions/<guid>/resourceGroups/<rg>/providers/"), lines[
            1
        ]
    named = cli(*base, "--log-analytics-workspace", "demo-law", *OFFLINE_SCOPE, env=OFFLINE)
    assert "workspaces/demo-law (`az monitor log-analytics workspace show -g <rg> -n demo-law" in named.stderr

    ws = one_deployment_workspace(
        emulator
    )  # the control: the workspace's own Log Analytics ID plans the setting
    good = cli(*base, "--log-analytics-workspace", ws["logAnalyticsId"], *ws["args"], "-o", "json")
    assert good.exit_code == 0, good.stderr
    planned = next(r for r in good.json()["results"] if r["kind"] == "endpoint")
    assert planned["status"] == "would-change"
    assert planned["changes"][0]["new"]["workspaceId"] == ws["logAnalyticsId"]
