"""The emulator's ARM routes, driven by the real Azure SDK clients (no amlmon code in between).

Shapes are compared with the recordings in ../shared/reference/azure-recordings where one exists.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Emulator, recording

SUB = "00000000-0000-0000-0000-00000000a1a1"
ML_VERSION = "2024-04-01"


def _client_kwargs(emulator: Emulator) -> dict[str, Any]:
    return {
        "base_url": emulator.endpoint,
        "connection_verify": emulator.ca_path,
        "credential_scopes": [emulator.endpoint + "/.default"],
    }


@pytest.fixture()
def workspace(emulator: Emulator) -> dict[str, Any]:
    """A fresh workspace with a component, a Log Analytics workspace, two storage accounts, one deployment."""
    name = "ws" + uuid.uuid4().hex[:8]
    status, answer = emulator.admin(
        "POST",
        "/_emulator/workspaces",
        {
            "subscription": SUB,
            "resourceGroup": "rg-" + name,
            "name": name,
            "location": "westeurope",
            "deployments": [{"endpoint": "ep-" + name, "name": "blue", "endpointComputeType": "Managed"}],
            "storageAccounts": [
                {"name": name + "st"},
                {"name": name + "far", "location": "eastus"},
            ],
        },
    )
    assert status == 201, answer
    answer.update(name=name, resourceGroup="rg-" + name)
    return answer


@pytest.fixture()
def pipeline(emulator: Emulator) -> Iterator[Any]:
    from azure.core.pipeline import policies
    from azure.mgmt.core import ARMPipelineClient
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

    auth = ARMChallengeAuthenticationPolicy(emulator.credential(), emulator.endpoint + "/.default")
    client: Any = ARMPipelineClient(
        base_url=emulator.endpoint,
        policies=[
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.ContentDecodePolicy(),
            policies.RetryPolicy(retry_backoff_factor=0.05),
            auth,
        ],
        connection_verify=emulator.ca_path,
    )
    with client:
        yield client


def _send(client: Any, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    from azure.core.rest import HttpRequest

    request = HttpRequest(method, client.format_url(url), json=body, headers=headers or {})
    return client.send_request(request)


def _recorded_deployment_put() -> dict[str, Any]:
    path = recording(
        "sdk-python/azure-ai-ml/test_online_deployment.pyTestOnlineDeploymenttest_online_deployment.excerpt.json"
    )
    entries = json.loads(path.read_text())["Entries"]
    return next(e for e in entries if e["RequestMethod"] == "PUT" and "/deployments/" in e["RequestUri"])


# --- workspaces, components, Log Analytics, storage ------------------------------------------------


def test_workspace_get_and_list_with_the_real_ml_client(
    emulator: Emulator, workspace: dict[str, Any]
) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

    client = MachineLearningServicesMgmtClient(emulator.credential(), SUB, **_client_kwargs(emulator))
    ws = client.workspaces.get(workspace["resourceGroup"], workspace["name"])
    assert ws.id == workspace["workspaceId"]
    assert ws.location == "westeurope"
    assert ws.application_insights == workspace["appInsightsId"]
    assert ws.discovery_url == emulator.endpoint + "/discovery" == workspace["discoveryUrl"]
    assert ws.friendly_name == workspace["name"]
    assert ws.storage_account and ws.key_vault
    listed = [w.name for w in client.workspaces.list_by_resource_group(workspace["resourceGroup"])]
    assert listed == [workspace["name"]]
    assert workspace["name"] in [w.name for w in client.workspaces.list_by_subscription()]
    with pytest.raises(ResourceNotFoundError) as caught:
        client.workspaces.get(workspace["resourceGroup"], "nope")
    assert caught.value.error is not None and caught.value.error.code == "ResourceNotFound"


def test_workspace_list_pages_with_next_link(emulator: Emulator) -> None:
    from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

    group = "rg-paged-" + uuid.uuid4().hex[:6]
    names = sorted(f"p{i}{uuid.uuid4().hex[:4]}" for i in range(5))
    for name in names:
        emulator.admin(
            "POST", "/_emulator/workspaces", {"subscription": SUB, "resourceGroup": group, "name": name}
        )
    seq = emulator.last_seq()
    emulator.admin("PUT", "/_emulator/settings", {"pageSize": 2})
    try:
        client = MachineLearningServicesMgmtClient(emulator.credential(), SUB, **_client_kwargs(emulator))
        listed = [str(w.name) for w in client.workspaces.list_by_resource_group(group)]
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"pageSize": 100})
    assert sorted(listed) == names
    pages = [
        e for e in emulator.requests_since(seq) if "/workspaces" in e.get("path", "") and group in e["path"]
    ]
    assert len(pages) == 3  # 2 + 2 + 1


def test_component_log_analytics_storage_and_retired_export(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    component = _send(pipeline, "GET", f"{workspace['appInsightsId']}?api-version=2020-02-02")
    assert component.status_code == 200
    assert component.headers["x-ms-request-id"] and component.headers["x-ms-correlation-request-id"]
    props = component.json()["properties"]
    assert props["AppId"] == workspace["appId"]
    assert props["InstrumentationKey"] == workspace["instrumentationKey"]
    assert props["WorkspaceResourceId"] == workspace["logAnalyticsId"]
    assert props["IngestionMode"] == "LogAnalytics"
    assert props["ConnectionString"] == (
        f"InstrumentationKey={workspace['instrumentationKey']};IngestionEndpoint={emulator.endpoint}/;"
        f"LiveEndpoint={emulator.endpoint}/"
    )
    # Recorded component shape: these keys are what the CLI recording shows for a workspace-based component.
    for key in ("AppId", "Application_Type", "InstrumentationKey", "ConnectionString", "provisioningState"):
        assert key in props
    exports = _send(
        pipeline, "GET", f"{workspace['appInsightsId']}/exportconfiguration?api-version=2015-05-01"
    )
    assert exports.status_code == 200 and exports.json() == []
    # IDs are case-insensitive, as in ARM.
    la = _send(pipeline, "GET", f"{workspace['logAnalyticsId'].upper()}?api-version=2022-10-01")
    assert la.status_code == 200 and la.json()["properties"]["customerId"] == workspace["customerId"]
    near, far = workspace["storageAccounts"]
    account = _send(pipeline, "GET", f"{near}?api-version=2023-01-01").json()
    assert account["location"] == "westeurope"
    assert (
        account["properties"]["primaryEndpoints"]["blob"]
        == f"https://{workspace['name']}st.blob.core.windows.net/"
    )
    assert _send(pipeline, "GET", f"{far}?api-version=2023-01-01").json()["location"] == "eastus"


def test_arm_conventions_missing_api_version_and_not_found(workspace: dict[str, Any], pipeline: Any) -> None:
    missing = _send(pipeline, "GET", workspace["workspaceId"])
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    absent = _send(pipeline, "GET", workspace["workspaceId"] + "x?api-version=2024-04-01")
    assert absent.status_code == 404
    error = absent.json()["error"]
    assert error == {
        "code": "ResourceNotFound",
        "message": f"The Resource 'Microsoft.MachineLearningServices/workspaces/{workspace['name']}x' under resource "
        f"group '{workspace['resourceGroup']}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    }


def test_idempotent_workspace_creation_adds_deployments(
    emulator: Emulator, workspace: dict[str, Any]
) -> None:
    again = {
        "subscription": SUB,
        "resourceGroup": workspace["resourceGroup"],
        "name": workspace["name"],
        "deployments": [{"endpoint": "ep-" + workspace["name"], "name": "green"}],
    }
    status, answer = emulator.admin("POST", "/_emulator/workspaces", again)
    assert status == 200
    assert answer["appId"] == workspace["appId"] and answer["customerId"] == workspace["customerId"]
    assert answer["deployments"] == [f"ep-{workspace['name']}/green"]


# --- diagnostic settings ---------------------------------------------------------------------------


DIAG_VERSION = "2021-05-01-preview"


def _setting(storage: str | None = None, category: str = "AppTraces") -> dict[str, Any]:
    return {"properties": {"storageAccountId": storage, "logs": [{"category": category, "enabled": True}]}}


def _diag(resource: str, name: str = "") -> str:
    path = f"{resource}/providers/Microsoft.Insights/diagnosticSettings"
    return f"{path}/{name}?api-version={DIAG_VERSION}" if name else f"{path}?api-version={DIAG_VERSION}"


# azure-mgmt-monitor 7 no longer models diagnostic settings: they go through an ARM pipeline, as amlmon does.
def test_diagnostic_settings_round_trip(workspace: dict[str, Any], pipeline: Any) -> None:
    component = workspace["appInsightsId"]
    near = workspace["storageAccounts"][0]
    created = _send(pipeline, "PUT", _diag(component, "export1"), _setting(near))
    assert created.status_code == 200
    assert created.json()["properties"]["storageAccountId"] == near
    # As recorded: lower-cased resource part in the id, unset fields as explicit nulls.
    assert (
        created.json()["id"] == component.lower() + "/providers/microsoft.insights/diagnosticSettings/export1"
    )
    assert created.json()["properties"]["logs"][0]["categoryGroup"] is None
    assert created.json()["properties"]["workspaceId"] is None
    got = _send(pipeline, "GET", _diag(component, "EXPORT1")).json()
    assert got["name"] == "export1" and got["properties"]["logs"] == [
        {"category": "AppTraces", "categoryGroup": None, "enabled": True}
    ]
    recorded = json.loads(
        recording(
            "specs/monitor/Microsoft.Insights/preview/2021-05-01-preview/examples/getDiagnosticSetting.json"
        ).read_text()
    )["responses"]["200"]["body"]
    assert set(recorded) <= set(got) | {"systemData"}
    assert [s["name"] for s in _send(pipeline, "GET", _diag(component)).json()["value"]] == ["export1"]
    categories_url = (
        f"{component}/providers/Microsoft.Insights/diagnosticSettingsCategories?api-version={DIAG_VERSION}"
    )
    categories = {
        c["name"]: c["properties"]["categoryType"]
        for c in _send(pipeline, "GET", categories_url).json()["value"]
    }
    assert categories["AppRequests"] == "Logs" and categories["AllMetrics"] == "Metrics"
    assert len(categories) == 12
    assert _send(pipeline, "DELETE", _diag(component, "export1")).status_code == 200
    assert _send(pipeline, "GET", _diag(component)).json() == {"value": []}
    assert _send(pipeline, "GET", _diag(component, "export1")).status_code == 404


def test_diagnostic_settings_validation_like_azure(workspace: dict[str, Any], pipeline: Any) -> None:
    component = workspace["appInsightsId"]
    near, far = workspace["storageAccounts"]

    def refused(setting: dict[str, Any], resource: str = component) -> tuple[int, str]:
        answer = _send(pipeline, "PUT", _diag(resource, "bad"), setting)
        return answer.status_code, answer.json()["error"]["message"]

    assert refused(_setting(None))[0] == 400  # no destination
    assert "not supported" in refused(_setting(near, "NotACategory"))[1]
    status, message = refused(_setting(far))
    assert status == 400 and "same region" in message
    assert "was not found" in refused(_setting(near + "zz"))[1]
    assert "is invalid" in refused(_setting(workspace["logAnalyticsId"]))[1]  # not a storage account
    bad_workspace = {
        "properties": {"workspaceId": near, "logs": [{"category": "AppTraces", "enabled": True}]}
    }
    assert "is invalid" in refused(bad_workspace)[1]
    bad_metric = {"properties": {"storageAccountId": near, "metrics": [{"category": "Cpu", "enabled": True}]}}
    assert refused(bad_metric)[0] == 400
    assert refused(_setting(near), component + "-gone")[0] == 404
    for index in range(5):
        assert _send(pipeline, "PUT", _diag(component, f"s{index}"), _setting(near)).status_code == 200
    status, message = refused(_setting(near))
    assert status == 400 and "more than 5" in message
    # Updating an existing one is still allowed at the limit.
    assert _send(pipeline, "PUT", _diag(component, "s0"), _setting(near, "AppRequests")).status_code == 200
    assert (
        _send(pipeline, "GET", _diag(component, "s0")).json()["properties"]["logs"][0]["category"]
        == "AppRequests"
    )


# --- v2 online deployments: async LRO ----------------------------------------------------------------


def _deployment_url(workspace: dict[str, Any], name: str = "blue") -> str:
    return f"{workspace['workspaceId']}/onlineEndpoints/ep-{workspace['name']}/deployments/{name}"


def _begin_put(pipeline: Any, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A `begin_create_or_update` the way generated mgmt SDKs build it: ARMPolling over an LROPoller."""
    from azure.core.pipeline import PipelineResponse
    from azure.core.polling import LROPoller
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    request = HttpRequest("PUT", pipeline.format_url(url), json=body, headers=headers or {})
    initial: PipelineResponse[Any, Any] = pipeline._pipeline.run(request)
    if initial.http_response.status_code not in (200, 201):
        initial.http_response.read()
        from azure.core.exceptions import HttpResponseError

        raise HttpResponseError(response=initial.http_response)

    def deserialize(response: PipelineResponse[Any, Any]) -> Any:
        return json.loads(response.http_response.text())

    return LROPoller(pipeline, initial, deserialize, ARMPolling(timeout=0.05))


def test_deployment_put_is_an_async_lro_the_sdk_follows(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    url = _deployment_url(workspace) + f"?api-version={ML_VERSION}"
    current = _send(pipeline, "GET", url)
    # As recorded: no ETag header and no `etag` in the body.
    assert current.status_code == 200 and "ETag" not in current.headers and "etag" not in current.json()
    body = current.json()
    body["properties"]["appInsightsEnabled"] = True
    body["properties"]["someFutureField"] = {"nested": [1, "two"]}
    body["futureTopLevel"] = "kept"
    seq = emulator.last_seq()
    poller = _begin_put(pipeline, url, body)
    initial = poller.polling_method()._initial_response.http_response
    recorded = _recorded_deployment_put()
    for header in ("Azure-AsyncOperation", "Location", "x-ms-async-operation-timeout"):
        assert header.lower() in {k.lower() for k in recorded["ResponseHeaders"]}
        assert initial.headers[header]
    assert "/mfeOperationsStatus/od:" in initial.headers["Azure-AsyncOperation"]
    assert initial.headers["Retry-After"] == "1"
    assert initial.status_code == 200  # an update; creation is 201 as recorded
    assert json.loads(initial.text())["properties"]["provisioningState"] == "Updating"
    # Mid-update: a second PUT is refused like the service does.
    busy = _send(pipeline, "PUT", url, body)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "Conflict"
    final = poller.result(timeout=30)
    assert final["properties"]["provisioningState"] == "Succeeded"
    assert "etag" not in final
    assert final["properties"]["appInsightsEnabled"] is True
    assert final["properties"]["someFutureField"] == {"nested": [1, "two"]}
    assert final["futureTopLevel"] == "kept"
    polls = [e for e in emulator.requests_since(seq) if "mfeOperationsStatus" in e.get("path", "")]
    assert polls, "the SDK's poller did not follow Azure-AsyncOperation"


def test_deployment_create_is_201_and_etag_guards_lost_updates_only_when_switched_on(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    url = _deployment_url(workspace, "green") + f"?api-version={ML_VERSION}"
    template = _send(pipeline, "GET", _deployment_url(workspace) + f"?api-version={ML_VERSION}").json()
    poller = _begin_put(pipeline, url, {"location": "westeurope", "properties": template["properties"]})
    assert poller.polling_method()._initial_response.http_response.status_code == 201
    poller.result(timeout=30)
    # By default (like real ARM) there is no ETag, so If-Match is not checked.
    ignored = _send(pipeline, "PUT", url, template, {"If-Match": '"stale"'})
    assert ignored.status_code == 200, ignored.text()
    deadline = time.time() + 20
    while _send(pipeline, "GET", url).json()["properties"]["provisioningState"] != "Succeeded":
        assert time.time() < deadline, "the update never finished"
        time.sleep(0.2)
    assert emulator.admin("PUT", "/_emulator/settings", {"deploymentETags": True})[0] == 200
    try:
        current = _send(pipeline, "GET", url)
        assert current.headers["ETag"] == current.json()["etag"]
        stale = _send(pipeline, "PUT", url, template, {"If-Match": '"stale"'})
    finally:
        emulator.admin("PUT", "/_emulator/settings", {"deploymentETags": False})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "PreconditionFailed"
    patched = _send(
        pipeline, "PATCH", url, {"tags": {"team": "a1"}, "properties": {"appInsightsEnabled": True}}
    )
    assert patched.status_code == 200
    assert patched.json()["tags"] == {"team": "a1"}
    assert patched.json()["properties"]["appInsightsEnabled"] is False  # PATCH leaves properties alone
    listed = _send(
        pipeline, "GET", url.split("/deployments/")[0] + f"/deployments?api-version={ML_VERSION}"
    ).json()
    assert sorted(d["name"] for d in listed["value"]) == ["blue", "green"]


# --- faults --------------------------------------------------------------------------------------------


def test_sdk_retries_a_429_and_survives_a_reset_on_the_lro_poll(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

    client = MachineLearningServicesMgmtClient(
        emulator.credential(), SUB, retry_backoff_factor=0.05, **_client_kwargs(emulator)
    )
    name = workspace["name"]
    emulator.admin(
        "POST", "/_emulator/faults", {"path": f"/workspaces/{name}$", "status": 429, "retryAfter": 0}
    )
    seq = emulator.last_seq()
    assert client.workspaces.get(workspace["resourceGroup"], name).name == name
    hits = [
        e["status"] for e in emulator.requests_since(seq) if e.get("path", "").endswith(f"/workspaces/{name}")
    ]
    assert hits == [429, 200]

    url = _deployment_url(workspace) + f"?api-version={ML_VERSION}"
    body = _send(pipeline, "GET", url).json()
    emulator.admin("POST", "/_emulator/faults", {"kind": "reset", "path": "mfeOperationsStatus", "count": 1})
    final = _begin_put(pipeline, url, body).result(timeout=30)
    assert final["properties"]["provisioningState"] == "Succeeded"
    statuses = [
        e["status"] for e in emulator.requests_since(seq) if "mfeOperationsStatus" in e.get("path", "")
    ]
    assert statuses[0] == 0 and 200 in statuses  # the reset, then the SDK retried the poll


def test_endpoint_create_and_deployment_delete_are_lros_the_sdk_follows(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    from azure.core.polling import LROPoller
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    endpoint_url = f"{workspace['workspaceId']}/onlineEndpoints/fresh?api-version={ML_VERSION}"
    poller = _begin_put(
        pipeline, endpoint_url, {"kind": "Managed", "properties": {"authMode": "Key", "x": 1}}
    )
    initial = poller.polling_method()._initial_response.http_response
    assert initial.status_code == 201
    assert json.loads(initial.text())["properties"]["provisioningState"] == "Creating"
    assert "/mfeOperationsStatus/oe:" in initial.headers["Azure-AsyncOperation"]
    created = poller.result(timeout=30)
    assert created["properties"]["provisioningState"] == "Succeeded" and created["properties"]["x"] == 1
    listed = _send(
        pipeline, "GET", f"{workspace['workspaceId']}/onlineEndpoints?api-version={ML_VERSION}"
    ).json()
    assert "fresh" in [e["name"] for e in listed["value"]]

    deployment_url = _deployment_url(workspace) + f"?api-version={ML_VERSION}"
    request = HttpRequest("DELETE", pipeline.format_url(deployment_url))
    response = pipeline._pipeline.run(request)
    assert response.http_response.status_code == 202
    assert "/mfeOperationResults/od:" in response.http_response.headers["Location"]
    LROPoller(pipeline, response, lambda _: None, ARMPolling(timeout=0.05)).result(timeout=30)
    assert _send(pipeline, "GET", deployment_url).status_code == 404
    assert _send(pipeline, "DELETE", deployment_url).status_code == 204


def test_an_endpoint_get_reports_the_state_its_update_has_reached(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    """As recorded, the endpoint's own GET answers Creating/Updating while its operation runs and
    Succeeded once it is done, whoever asks: here nothing but endpoint GETs and lists follow the PUT
    (no status poll, no deployment call), and they must still see the update finish."""
    endpoints = f"{workspace['workspaceId']}/onlineEndpoints"
    url = f"{endpoints}/ep-{workspace['name']}?api-version={ML_VERSION}"
    before = _send(pipeline, "GET", url).json()
    _, settings = emulator.admin("GET", "/_emulator/settings")
    emulator.admin("PUT", "/_emulator/settings", {"operationSeconds": 2})
    try:
        put = _send(pipeline, "PUT", url, {**before, "tags": {"round": "two"}})
        assert put.status_code == 200 and "/mfeOperationsStatus/oe:" in put.headers["Azure-AsyncOperation"]
        # the control: while the operation runs, the GET says so
        assert _send(pipeline, "GET", url).json()["properties"]["provisioningState"] == "Updating"
        deadline = time.monotonic() + 30
        while True:
            state = _send(pipeline, "GET", url).json()["properties"]["provisioningState"]
            if state != "Updating" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        emulator.admin(
            "PUT", "/_emulator/settings", {"operationSeconds": settings.get("operationSeconds", 0.5)}
        )
    assert state == "Succeeded"
    listed = _send(pipeline, "GET", f"{endpoints}?api-version={ML_VERSION}").json()["value"]
    assert [e["properties"]["provisioningState"] for e in listed if e["id"] == before["id"]] == ["Succeeded"]
    status = _send(pipeline, "GET", put.headers["Azure-AsyncOperation"]).json()
    assert status["status"] == "Succeeded", "the operation and the resource agree"


def test_a_planned_failure_ends_the_operation_failed(
    emulator: Emulator, workspace: dict[str, Any], pipeline: Any
) -> None:
    from azure.core.exceptions import HttpResponseError

    url = _deployment_url(workspace) + f"?api-version={ML_VERSION}"
    body = _send(pipeline, "GET", url).json()
    key = f"EP-{workspace['name']}/blue"  # matched case-insensitively
    emulator.admin("PUT", "/_emulator/settings", {"failNextDeploymentUpdate": {key: "quota exceeded"}})
    with pytest.raises(HttpResponseError) as caught:
        _begin_put(pipeline, url, body).result(timeout=30)
    assert "quota exceeded" in str(caught.value)
    assert _send(pipeline, "GET", url).json()["properties"]["provisioningState"] == "Failed"
    # Only the next one: a retry succeeds.
    assert (
        _begin_put(pipeline, url, body).result(timeout=30)["properties"]["provisioningState"] == "Succeeded"
    )


# --- issue 15: the data collector, data assets, endpoint diagnostic settings -------------------------

COLLECTOR = {
    "collections": {
        "model_inputs": {"dataCollectionMode": "Enabled", "samplingRate": 1.0},
        "request": {"dataCollectionMode": "Disabled", "samplingRate": 0.5},
    },
    "requestLogging": {"captureHeaders": ["x-tenant"]},
    "rollingRate": "Hour",
}


def _settle(pipeline: Any, url: str) -> dict[str, Any]:
    deadline = time.time() + 20
    while True:
        body: dict[str, Any] = _send(pipeline, "GET", url).json()
        if body["properties"]["provisioningState"] == "Succeeded":
            return body
        assert time.time() < deadline, "the update never finished"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("version", "knows"),
    [
        ("2023-04-01-preview", True),
        ("2023-06-01-preview", True),
        ("2024-04-01", True),
        ("2024-10-01", True),
        ("2023-04-01", False),
        ("2023-10-01", False),
        ("2022-10-01", False),
        ("2023-02-01-preview", False),
    ],
)
def test_data_collector_round_trips_only_at_versions_that_model_it(
    workspace: dict[str, Any], pipeline: Any, version: str, knows: bool
) -> None:
    url = _deployment_url(workspace)
    body = _send(pipeline, "GET", url + "?api-version=2024-04-01").json()
    body["properties"]["dataCollector"] = COLLECTOR
    assert _send(pipeline, "PUT", url + "?api-version=2024-04-01", body).status_code == 200
    stored = _settle(pipeline, url + "?api-version=2024-04-01")
    assert stored["properties"]["dataCollector"] == COLLECTOR

    read = _send(pipeline, "GET", url + f"?api-version={version}").json()
    assert ("dataCollector" in read["properties"]) is knows
    listed = _send(pipeline, "GET", url.rsplit("/", 1)[0] + f"?api-version={version}").json()["value"]
    assert ("dataCollector" in listed[0]["properties"]) is knows
    # A read-modify-write at that version: an old model drops the collector for good.
    assert _send(pipeline, "PUT", url + f"?api-version={version}", read).status_code == 200
    after = _settle(pipeline, url + "?api-version=2024-04-01")
    assert ("dataCollector" in after["properties"]) is knows


def test_data_assets_are_created_and_read(workspace: dict[str, Any], pipeline: Any) -> None:
    url = f"{workspace['workspaceId']}/data/ep-blue-model_inputs/versions/1?api-version=2024-04-01"
    assert _send(pipeline, "GET", url).status_code == 404
    body = {
        "properties": {
            "dataType": "uri_folder",
            "dataUri": "azureml://datastores/workspaceblobstore/paths/modelDataCollector/ep/blue/model_inputs",
        }
    }
    created = _send(pipeline, "PUT", url, body)
    assert created.status_code == 201, created.text()
    assert created.json()["type"] == "Microsoft.MachineLearningServices/workspaces/data/versions"
    assert created.json()["name"] == "1" and created.json()["properties"]["dataType"] == "uri_folder"
    got = _send(pipeline, "GET", url)
    assert got.status_code == 200 and got.json() == created.json()
    assert _send(pipeline, "PUT", url, body).status_code == 200
    bad = _send(pipeline, "PUT", url, {"properties": {"dataType": "folder"}})
    assert bad.status_code == 400


def test_online_endpoints_take_diagnostic_settings_with_their_three_categories(
    workspace: dict[str, Any], pipeline: Any
) -> None:
    endpoint = _deployment_url(workspace).split("/deployments/")[0]
    base = endpoint + "/providers/Microsoft.Insights/diagnosticSettings"
    categories = _send(pipeline, "GET", base + "Categories?api-version=2021-05-01-preview").json()
    assert [c["name"] for c in categories["value"] if c["properties"]["categoryType"] == "Logs"] == [
        "AmlOnlineEndpointConsoleLog",
        "AmlOnlineEndpointTrafficLog",
        "AmlOnlineEndpointEventLog",
    ]
    logs = [{"category": "AmlOnlineEndpointTrafficLog", "enabled": True}]
    body = {"properties": {"workspaceId": workspace["logAnalyticsId"], "logs": logs}}
    ok = _send(pipeline, "PUT", base + "/amlmon-endpoint-logs?api-version=2021-05-01-preview", body)
    assert ok.status_code == 200, ok.text()
    wrong = {
        "properties": {
            "workspaceId": workspace["logAnalyticsId"],
            "logs": [{"category": "AppTraces", "enabled": True}],
        }
    }
    refused = _send(pipeline, "PUT", base + "/other?api-version=2021-05-01-preview", wrong)
    assert refused.status_code == 400 and "AppTraces" in refused.json()["error"]["message"]
