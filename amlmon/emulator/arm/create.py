"""Creating a workspace's ARM resources for the admin API (POST /_emulator/workspaces): workspace, App
Insights component, Log Analytics workspace, storage accounts, v2 online endpoints and deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm.common import ML, arm_id, guid, now_text, system_data
from amlmon.emulator.arm.datastores import default_datastores
from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


# --- creation (called by admin.py for POST /_emulator/workspaces) -----------------------------------


def create_workspace_resources(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """Create (or keep) the workspace and its linked resources; the ARM part of the admin answer."""
    store = state.resources
    sub, rg, name = body["subscription"], body["resourceGroup"], body["name"]
    location = body.get("location") or "westeurope"
    ws_id = arm_id(sub, rg, f"{ML}/workspaces", name)
    component_id = arm_id(sub, rg, "microsoft.insights/components", f"{name}-ai")
    la_id = arm_id(sub, rg, "Microsoft.OperationalInsights/workspaces", f"{name}-law")
    existing = store.get(ws_id)
    linked = body.get("appInsights", True)
    if existing is None:
        store.put(
            ws_id, _workspace_body(state, ws_id, name, location, component_id if linked else None, sub, rg)
        )
        for datastore in default_datastores(ws_id, store.get(ws_id) or {}):
            store.put(datastore["id"], datastore)
        if linked:
            store.put(la_id, _log_analytics_body(la_id, f"{name}-law", location))
            store.put(component_id, _component_body(state, component_id, f"{name}-ai", location, la_id))
            _put_component_cap(store, component_id)
    ws = store.get(ws_id) or {}
    component_id = ws.get("properties", {}).get("applicationInsights") or ""
    component = store.get(component_id) if component_id else None
    la = store.get(la_id) if component else None
    storage_ids = [
        _ensure_storage(state, sub, rg, account, location) for account in body.get("storageAccounts") or []
    ]
    deployments = [_ensure_deployment(state, ws_id, location, spec) for spec in body.get("deployments") or []]
    props = (component or {}).get("properties", {})
    return {
        "workspaceId": ws["id"],
        "appInsightsId": component["id"] if component else None,
        "appId": props.get("AppId"),
        "instrumentationKey": props.get("InstrumentationKey"),
        "logAnalyticsId": la["id"] if la else None,
        "customerId": (la or {}).get("properties", {}).get("customerId"),
        "discoveryUrl": ws["properties"]["discoveryUrl"],
        "location": ws["location"],
        "deployments": deployments,
        "storageAccounts": storage_ids,
        "created": existing is None,
    }


def _workspace_body(
    state: EmulatorState, ws_id: str, name: str, location: str, component_id: str | None, sub: str, rg: str
) -> dict[str, Any]:
    return {
        "id": ws_id,
        "name": name,
        "type": f"{ML}/workspaces",
        "location": location,
        "tags": {},
        "identity": {"type": "SystemAssigned", "principalId": guid(), "tenantId": state.tenant_id},
        "sku": {"name": "Basic", "tier": "Basic"},
        "properties": {
            "friendlyName": name,
            "description": "",
            "workspaceId": guid(),
            "applicationInsights": component_id,
            "storageAccount": arm_id(
                sub, rg, "Microsoft.Storage/storageAccounts", name.replace("-", "")[:20] + "st"
            ),
            "keyVault": arm_id(sub, rg, "Microsoft.KeyVault/vaults", name[:20] + "-kv"),
            "discoveryUrl": f"{state.endpoint}/discovery",
            "provisioningState": "Succeeded",
            "creationTime": now_text(),
            "hbiWorkspace": False,
            "publicNetworkAccess": "Enabled",
        },
        "systemData": {"createdAt": now_text(), "createdBy": "amlmon-emulator", "createdByType": "User"},
    }


def _component_body(state: EmulatorState, cid: str, name: str, location: str, la_id: str) -> dict[str, Any]:
    ikey = guid()
    endpoint = state.endpoint + "/"
    return {
        "id": cid,
        "name": name,
        "type": "microsoft.insights/components",
        "location": location,
        "tags": {},
        "kind": "web",
        "etag": f'"{guid()}"',
        "properties": {
            "ApplicationId": name,
            "AppId": guid(),
            "Application_Type": "web",
            "Flow_Type": "Bluefield",
            "Request_Source": "rest",
            "InstrumentationKey": ikey,
            "ConnectionString": f"InstrumentationKey={ikey};IngestionEndpoint={endpoint};LiveEndpoint={endpoint}",
            "Name": name,
            "CreationDate": now_text(),
            "TenantId": state.tenant_id,
            "provisioningState": "Succeeded",
            "SamplingPercentage": None,
            "DisableLocalAuth": False,
            "RetentionInDays": 90,
            "WorkspaceResourceId": la_id,
            "IngestionMode": "LogAnalytics",
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        },
    }


def _log_analytics_body(la_id: str, name: str, location: str) -> dict[str, Any]:
    return {
        "id": la_id,
        "name": name,
        "type": "Microsoft.OperationalInsights/workspaces",
        "location": location,
        "tags": {},
        "properties": {
            "customerId": guid(),
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018"},
            "retentionInDays": 30,
            # No daily cap (-1); `dataIngestionStatus` says whether ingestion stopped at the cap.
            "workspaceCapping": {
                "dailyQuotaGb": -1.0,
                "quotaNextResetTime": _next_midnight(),
                "dataIngestionStatus": "RespectQuota",
            },
            "features": {"disableLocalAuth": False},
            "createdDate": now_text(),
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        },
    }


def _put_component_cap(store: Any, component_id: str) -> None:
    """The component's own daily cap (…/currentbillingfeatures) and whether ingestion is throttled by it
    now (…/quotastatus), as api-version 2015-05-01 answers them; a new component is not capped."""
    app_id = (store.get(component_id) or {}).get("properties", {}).get("AppId")
    store.put(
        component_id + "/currentbillingfeatures",
        {
            "CurrentBillingFeatures": ["Basic"],
            "DataVolumeCap": {
                "Cap": 100.0,
                "ResetTime": 0,
                "WarningThreshold": 90,
                "StopSendNotificationWhenHitThreshold": False,
                "StopSendNotificationWhenHitCap": False,
                "MaxHistoryCap": 100.0,
            },
        },
    )
    store.put(
        component_id + "/quotastatus",
        {"AppId": app_id, "ShouldBeThrottled": False, "ExpirationTime": _next_midnight()},
    )


def _next_midnight() -> str:
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    return f"{today.isoformat()}T00:00:00Z"


def _ensure_storage(
    state: EmulatorState, sub: str, rg: str, spec: dict[str, Any], default_location: str
) -> str:
    name = spec["name"]
    sid = arm_id(sub, rg, "Microsoft.Storage/storageAccounts", name)
    store = state.resources
    if store.get(sid) is None:
        blob = spec.get("blobEndpoint") or f"https://{name}.blob.core.windows.net/"
        store.put(
            sid,
            {
                "id": sid,
                "name": name,
                "type": "Microsoft.Storage/storageAccounts",
                "location": spec.get("location") or default_location,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS", "tier": "Standard"},
                "tags": {},
                "properties": {
                    "provisioningState": "Succeeded",
                    "primaryEndpoints": {"blob": blob if blob.endswith("/") else blob + "/"},
                    "primaryLocation": spec.get("location") or default_location,
                    "statusOfPrimary": "available",
                    "creationTime": now_text(),
                },
            },
        )
    return sid


def _ensure_deployment(state: EmulatorState, ws_id: str, location: str, spec: dict[str, Any]) -> str:
    store = state.resources
    endpoint, name = spec["endpoint"], spec["name"]
    compute = spec.get("endpointComputeType", "Managed")
    ep_id = f"{ws_id}/onlineEndpoints/{endpoint}"
    if store.get(ep_id) is None:
        store.put(ep_id, _endpoint_body(state, ep_id, endpoint, location, compute))
    dep_id = f"{ep_id}/deployments/{name}"
    if store.get(dep_id) is None:
        body = _deployment_body(dep_id, name, location, compute, bool(spec.get("appInsightsEnabled", False)))
        body["properties"].update(spec.get("properties") or {})
        store_deployment(state, dep_id, body)
        from amlmon.emulator.online_inference import mark_backend

        mark_backend(state, dep_id, spec.get("backend"))
        endpoint_body = store.get(ep_id) or {}
        traffic = endpoint_body.setdefault("properties", {}).setdefault("traffic", {})
        traffic.setdefault(name, 100 if not traffic else 0)
        store.put(ep_id, endpoint_body)
    return f"{endpoint}/{name}"


def _endpoint_body(
    state: EmulatorState, ep_id: str, name: str, location: str, compute: str
) -> dict[str, Any]:
    return {
        "id": ep_id,
        "name": name,
        "type": f"{ML}/workspaces/onlineEndpoints",
        "location": location,
        "kind": compute,
        "tags": {},
        "identity": {"type": "SystemAssigned", "principalId": guid(), "tenantId": state.tenant_id},
        "properties": {
            "authMode": "Key",
            "scoringUri": f"{state.endpoint}/api/v1/endpoint/{name}/score",
            "swaggerUri": f"{state.endpoint}/api/v1/endpoint/{name}/swagger.json",
            "provisioningState": "Succeeded",
            "traffic": {},
            "publicNetworkAccess": "Enabled",
        },
        "systemData": system_data(),
    }


def _deployment_body(
    dep_id: str, name: str, location: str, compute: str, app_insights: bool
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "endpointComputeType": compute,
        "appInsightsEnabled": app_insights,
        "model": dep_id.split("/onlineEndpoints/")[0] + "/models/sample-model/versions/1",
        "codeConfiguration": {
            "codeId": dep_id.split("/onlineEndpoints/")[0] + "/codes/sample-code/versions/1",
            "scoringScript": "score.py",
        },
        "environmentId": "azureml://registries/azureml/environments/sklearn-1.5/versions/1",
        "environmentVariables": {},
        "instanceType": "Standard_DS3_v2",
        "scaleSettings": {"scaleType": "Default"},
        "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1},
        "livenessProbe": {
            "initialDelay": "PT10M",
            "period": "PT10S",
            "timeout": "PT2S",
            "successThreshold": 1,
            "failureThreshold": 30,
        },
        "egressPublicNetworkAccess": "Enabled",
        "provisioningState": "Succeeded",
    }
    return {
        "id": dep_id,
        "name": name,
        "type": f"{ML}/workspaces/onlineEndpoints/deployments",
        "location": location,
        "kind": compute,
        "tags": {},
        "sku": {"name": "Default", "tier": "Standard", "capacity": 1},
        "properties": properties,
        "systemData": system_data(),
    }


def store_deployment(state: EmulatorState, dep_id: str, body: dict[str, Any]) -> str:
    """Store with a fresh ETag, in the body (`etag`) and beside it (ARM also sends it as a header)."""
    etag = f'"{guid()}"'
    body["etag"] = etag
    state.resources.put(dep_id, body)
    state.etags[normalize_id(dep_id)] = etag
    return etag


def deployment_etag(state: EmulatorState, dep_id: str) -> str:
    """The deployment's current ETag (the stored body's, so it survives an emulator restart)."""
    etags = state.etags
    key = normalize_id(dep_id)
    if key not in etags:
        stored = (state.resources.get(dep_id) or {}).get("etag")
        etags[key] = stored or f'"{guid()}"'
    return str(etags[key])
