"""Azure Resource Manager: AML workspaces, App Insights components, Log Analytics workspaces, storage
accounts, diagnostic settings on any resource, and v2 online endpoints/deployments with async LROs.

Shapes follow the recordings in ../shared/reference/azure-recordings: ARM's `{"error": {code, message}}`
envelope, `value` + `nextLink` paging, `Azure-AsyncOperation` (…/mfeOperationsStatus/…) for deployment
writes, answered 201 with the body already `Updating`.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, arm_error, json_response
from amlmon.emulator.resources import normalize_id, resources

if TYPE_CHECKING:
    from amlmon.emulator.server import EmulatorState

ML = "Microsoft.MachineLearningServices"
SUB_RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
WS = SUB_RG + rf"/providers/{ML}/workspaces/(?P<ws>[^/]+)"
DIAG = r"(?P<uri>/subscriptions/.+?)/providers/microsoft\.insights/diagnosticSettings"

# Categories a workspace-based App Insights component offers (diagnosticSettingsCategories).
COMPONENT_LOG_CATEGORIES = (
    "AppAvailabilityResults",
    "AppBrowserTimings",
    "AppDependencies",
    "AppEvents",
    "AppExceptions",
    "AppMetrics",
    "AppPageViews",
    "AppPerformanceCounters",
    "AppRequests",
    "AppSystemEvents",
    "AppTraces",
)
MAX_DIAGNOSTIC_SETTINGS = 5


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


def _guid() -> str:
    return str(uuid.uuid4())


def _id(sub: str, rg: str, provider: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{name}"


def _settings(state: EmulatorState, key: str, default: float) -> float:
    return float(state.settings.get(key, default))


# --- creation (called by admin.py for POST /_emulator/workspaces) -----------------------------------


def create_workspace_resources(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    """Create (or keep) the workspace and its linked resources; the ARM part of the admin answer."""
    store = resources(state)
    sub, rg, name = body["subscription"], body["resourceGroup"], body["name"]
    location = body.get("location") or "westeurope"
    ws_id = _id(sub, rg, f"{ML}/workspaces", name)
    component_id = _id(sub, rg, "microsoft.insights/components", f"{name}-ai")
    la_id = _id(sub, rg, "Microsoft.OperationalInsights/workspaces", f"{name}-law")
    existing = store.get(ws_id)
    linked = body.get("appInsights", True)
    if existing is None:
        store.put(
            ws_id, _workspace_body(state, ws_id, name, location, component_id if linked else None, sub, rg)
        )
        if linked:
            store.put(la_id, _log_analytics_body(la_id, f"{name}-law", location))
            store.put(component_id, _component_body(state, component_id, f"{name}-ai", location, la_id))
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
        "identity": {"type": "SystemAssigned", "principalId": _guid(), "tenantId": state.tenant_id},
        "sku": {"name": "Basic", "tier": "Basic"},
        "properties": {
            "friendlyName": name,
            "description": "",
            "workspaceId": _guid(),
            "applicationInsights": component_id,
            "storageAccount": _id(
                sub, rg, "Microsoft.Storage/storageAccounts", name.replace("-", "")[:20] + "st"
            ),
            "keyVault": _id(sub, rg, "Microsoft.KeyVault/vaults", name[:20] + "-kv"),
            "discoveryUrl": f"{state.endpoint}/discovery",
            "provisioningState": "Succeeded",
            "creationTime": _now(),
            "hbiWorkspace": False,
            "publicNetworkAccess": "Enabled",
        },
        "systemData": {"createdAt": _now(), "createdBy": "amlmon-emulator", "createdByType": "User"},
    }


def _component_body(state: EmulatorState, cid: str, name: str, location: str, la_id: str) -> dict[str, Any]:
    ikey = _guid()
    endpoint = state.endpoint + "/"
    return {
        "id": cid,
        "name": name,
        "type": "microsoft.insights/components",
        "location": location,
        "tags": {},
        "kind": "web",
        "etag": f'"{_guid()}"',
        "properties": {
            "ApplicationId": name,
            "AppId": _guid(),
            "Application_Type": "web",
            "Flow_Type": "Bluefield",
            "Request_Source": "rest",
            "InstrumentationKey": ikey,
            "ConnectionString": f"InstrumentationKey={ikey};IngestionEndpoint={endpoint};LiveEndpoint={endpoint}",
            "Name": name,
            "CreationDate": _now(),
            "TenantId": state.tenant_id,
            "provisioningState": "Succeeded",
            "SamplingPercentage": None,
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
            "customerId": _guid(),
            "provisioningState": "Succeeded",
            "sku": {"name": "PerGB2018"},
            "retentionInDays": 30,
            "createdDate": _now(),
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        },
    }


def _ensure_storage(
    state: EmulatorState, sub: str, rg: str, spec: dict[str, Any], default_location: str
) -> str:
    name = spec["name"]
    sid = _id(sub, rg, "Microsoft.Storage/storageAccounts", name)
    store = resources(state)
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
                    "creationTime": _now(),
                },
            },
        )
    return sid


def _ensure_deployment(state: EmulatorState, ws_id: str, location: str, spec: dict[str, Any]) -> str:
    store = resources(state)
    endpoint, name = spec["endpoint"], spec["name"]
    compute = spec.get("endpointComputeType", "Managed")
    ep_id = f"{ws_id}/onlineEndpoints/{endpoint}"
    if store.get(ep_id) is None:
        store.put(ep_id, _endpoint_body(state, ep_id, endpoint, location, compute))
    dep_id = f"{ep_id}/deployments/{name}"
    if store.get(dep_id) is None:
        body = _deployment_body(dep_id, name, location, compute, bool(spec.get("appInsightsEnabled", False)))
        body["properties"].update(spec.get("properties") or {})
        _store_deployment(state, dep_id, body)
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
        "identity": {"type": "SystemAssigned", "principalId": _guid(), "tenantId": state.tenant_id},
        "properties": {
            "authMode": "Key",
            "scoringUri": f"{state.endpoint}/api/v1/endpoint/{name}/score",
            "swaggerUri": f"{state.endpoint}/api/v1/endpoint/{name}/swagger.json",
            "provisioningState": "Succeeded",
            "traffic": {},
            "publicNetworkAccess": "Enabled",
        },
        "systemData": {"createdAt": _now(), "createdBy": "amlmon-emulator", "createdByType": "User"},
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
        "systemData": {"createdAt": _now(), "createdBy": "amlmon-emulator", "createdByType": "User"},
    }


def _store_deployment(state: EmulatorState, dep_id: str, body: dict[str, Any]) -> str:
    """Store with a fresh ETag (kept beside the body; ARM sends it as a header)."""
    etag = f'"{_guid()}"'
    resources(state).put(dep_id, body)
    state.extensions.setdefault("etags", {})[normalize_id(dep_id)] = etag
    return etag


def _etag(state: EmulatorState, dep_id: str) -> str:
    return str(state.extensions.setdefault("etags", {}).setdefault(normalize_id(dep_id), f'"{_guid()}"'))


# --- routes ---------------------------------------------------------------------------------------


def register(router: Router, state: EmulatorState) -> None:
    operations: dict[str, dict[str, Any]] = state.extensions.setdefault("arm_operations", {})

    def needs_version(handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            if not request.q("api-version"):
                return arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            response: Response = handler(request)
            # ARM echoes the caller's correlation id (or makes one) on every answer.
            response.headers.setdefault(
                "x-ms-correlation-request-id", request.header("x-ms-correlation-request-id") or _guid()
            )
            return response

        return wrapped

    def add(method: str, pattern: str, handler: Any) -> None:
        router.add(method, pattern, needs_version(handler))

    # Diagnostic settings first: their paths nest under any other resource's path.
    add("GET", DIAG + r"Categories", lambda r: _diag_categories(state, r))
    add("GET", DIAG, lambda r: _diag_list(state, r))
    add("GET", DIAG + r"/(?P<name>[^/]+)", lambda r: _diag_get(state, r))
    add("PUT", DIAG + r"/(?P<name>[^/]+)", lambda r: _diag_put(state, r))
    add("DELETE", DIAG + r"/(?P<name>[^/]+)", lambda r: _diag_delete(state, r))

    add(
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"
        r"/mfeOperationsStatus/(?P<op>[^/]+)",
        lambda r: _operation_status(state, operations, r),
    )
    add(
        "GET", WS + r"/onlineEndpoints", lambda r: _list(state, r, r.path, f"{ML}/workspaces/onlineEndpoints")
    )
    add(
        "GET",
        WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments",
        lambda r: _list_deployments(state, operations, r),
    )
    dep = WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)"
    add("GET", dep, lambda r: _get_deployment(state, operations, r))
    add("PUT", dep, lambda r: _put_deployment(state, operations, r))
    add("PATCH", dep, lambda r: _patch_deployment(state, operations, r))
    add("GET", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", lambda r: _get(state, r))
    add("GET", SUB_RG + rf"/providers/{ML}/workspaces", lambda r: _list(state, r, r.path, f"{ML}/workspaces"))
    add(
        "GET",
        rf"/subscriptions/(?P<sub>[^/]+)/providers/{ML}/workspaces",
        lambda r: _list(state, r, f"/subscriptions/{r.params['sub']}", f"{ML}/workspaces"),
    )
    add(
        "GET",
        SUB_RG + r"/providers/microsoft\.insights/components/(?P<name>[^/]+)/exportconfiguration",
        _no_exports,
    )
    add("GET", SUB_RG + r"/providers/(?P<rest>.+)", lambda r: _get(state, r))


def _get(state: EmulatorState, request: Request) -> Response:
    body = resources(state).get(request.path)
    if body is None:
        return _not_found(request.path)
    return json_response(200, body)


def _not_found(resource_id: str) -> Response:
    parts = resource_id.strip("/").split("/")
    kind = "/".join(parts[5:-1:2]) if len(parts) > 6 else "resource"
    return arm_error(
        404,
        "ResourceNotFound",
        f"The Resource '{'/'.join(parts[5:]) or resource_id}' under resource group "
        f"'{parts[3] if len(parts) > 3 else ''}' was not found. For more details please go to "
        f"https://aka.ms/ARMResourceNotFoundFix ({kind})",
    )


def _page(state: EmulatorState, request: Request, items: list[dict[str, Any]]) -> Response:
    """`value` + `nextLink` paging with an opaque skip token, like ARM list calls."""
    size = max(1, int(_settings(state, "pageSize", 100)))
    items.sort(key=lambda item: str(item.get("id", "")).lower())
    try:
        skip = int(request.q("$skipToken") or 0)
    except ValueError:
        skip = 0
    body: dict[str, Any] = {"value": items[skip : skip + size]}
    if skip + size < len(items):
        version = request.q("api-version")
        body["nextLink"] = f"{state.endpoint}{request.path}?api-version={version}&$skipToken={skip + size}"
    return json_response(200, body)


def _list(state: EmulatorState, request: Request, prefix: str, type_: str) -> Response:
    return _page(state, request, resources(state).list(prefix=prefix.rsplit("/providers/", 1)[0], type=type_))


def _no_exports(request: Request) -> Response:
    # Classic continuous export is retired: existing components list no configurations.
    return json_response(200, [])


# --- online deployments (async LRO) ---------------------------------------------------------------


def _finish_due(state: EmulatorState, operations: dict[str, dict[str, Any]]) -> None:
    now = time.time()
    for op in operations.values():
        if op["status"] == "InProgress" and now >= op["due"]:
            body = resources(state).get(op["resourceId"])
            if body is not None:
                body["properties"]["provisioningState"] = "Succeeded"
                resources(state).put(op["resourceId"], body)
            op["status"] = "Succeeded"
            op["endTime"] = _now()


def _deployment_response(state: EmulatorState, dep_id: str, status: int = 200, extra: Any = None) -> Response:
    body = resources(state).get(dep_id)
    if body is None:
        return _not_found(dep_id)
    headers = {"ETag": _etag(state, dep_id), **(extra or {})}
    return json_response(status, body, headers)


def _get_deployment(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request
) -> Response:
    _finish_due(state, operations)
    return _deployment_response(state, request.path)


def _list_deployments(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request
) -> Response:
    _finish_due(state, operations)
    endpoint_id = request.path.rsplit("/deployments", 1)[0]
    if resources(state).get(endpoint_id) is None:
        return _not_found(endpoint_id)
    return _page(
        state,
        request,
        resources(state).list(prefix=request.path, type=f"{ML}/workspaces/onlineEndpoints/deployments"),
    )


def _precondition(state: EmulatorState, request: Request, dep_id: str) -> Response | None:
    wanted = request.header("If-Match")
    if wanted and wanted != "*" and wanted != _etag(state, dep_id):
        return arm_error(
            412,
            "PreconditionFailed",
            "The specified If-Match precondition does not match the resource's current ETag.",
        )
    return None


def _busy(state: EmulatorState, operations: dict[str, dict[str, Any]], dep_id: str) -> Response | None:
    for op in operations.values():
        if op["status"] == "InProgress" and normalize_id(op["resourceId"]) == normalize_id(dep_id):
            return arm_error(
                409,
                "Conflict",
                f"There is already an ongoing operation on the deployment {dep_id.rsplit('/', 1)[-1]}: "
                "wait for it to finish before starting another.",
            )
    return None


def _put_deployment(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request
) -> Response:
    _finish_due(state, operations)
    dep_id = request.path
    endpoint_id = dep_id.rsplit("/deployments/", 1)[0]
    endpoint = resources(state).get(endpoint_id)
    if endpoint is None:
        return _not_found(endpoint_id)
    refused = _precondition(state, request, dep_id) or _busy(state, operations, dep_id)
    if refused is not None:
        return refused
    incoming = request.json()
    if not isinstance(incoming, dict) or not isinstance(incoming.get("properties"), dict):
        return arm_error(
            400, "BadRequest", "The request body must be a deployment with a 'properties' object."
        )
    existing = resources(state).get(dep_id)
    name = dep_id.rsplit("/", 1)[-1]
    body = dict(incoming)
    body.update({"id": dep_id, "name": name, "type": f"{ML}/workspaces/onlineEndpoints/deployments"})
    body.setdefault("location", endpoint.get("location"))
    body["properties"] = {**incoming["properties"], "provisioningState": "Updating"}
    body["properties"].setdefault("endpointComputeType", endpoint.get("kind", "Managed"))
    body.setdefault("systemData", (existing or {}).get("systemData") or {"createdAt": _now()})
    _store_deployment(state, dep_id, body)
    return _start_operation(state, operations, request, dep_id, 200 if existing else 201)


def _start_operation(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request, dep_id: str, status: int
) -> Response:
    op_id = f"od:{_guid()}"
    sub = request.params["sub"]
    location = (resources(state).get(dep_id) or {}).get("location") or "westeurope"
    version = request.q("api-version")
    operations[op_id] = {
        "id": op_id,
        "resourceId": dep_id,
        "status": "InProgress",
        "startTime": _now(),
        "due": time.time() + _settings(state, "operationSeconds", 0.5),
    }
    status_url = (
        f"{state.endpoint}/subscriptions/{sub}/providers/{ML}/locations/{location}/mfeOperationsStatus/"
        f"{op_id}?api-version={version}"
    )
    headers = {
        "Azure-AsyncOperation": status_url,
        "Location": f"{state.endpoint}{dep_id}?api-version={version}",
        "x-ms-async-operation-timeout": "PT1H",
        "Retry-After": str(int(_settings(state, "retryAfterSeconds", 1))),
    }
    return _deployment_response(state, dep_id, status, headers)


def _patch_deployment(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request
) -> Response:
    """PATCH covers tags, sku and identity only (properties are changed by PUT)."""
    _finish_due(state, operations)
    dep_id = request.path
    body = resources(state).get(dep_id)
    if body is None:
        return _not_found(dep_id)
    refused = _precondition(state, request, dep_id)
    if refused is not None:
        return refused
    patch = request.json() or {}
    for key in ("tags", "sku", "identity"):
        if key in patch:
            body[key] = patch[key]
    _store_deployment(state, dep_id, body)
    return _deployment_response(state, dep_id)


def _operation_status(
    state: EmulatorState, operations: dict[str, dict[str, Any]], request: Request
) -> Response:
    _finish_due(state, operations)
    op = operations.get(request.params["op"])
    if op is None:
        return arm_error(404, "NotFound", f"Operation {request.params['op']} was not found.")
    body: dict[str, Any] = {
        "id": request.path,
        "name": op["id"],
        "status": op["status"],
        "startTime": op["startTime"],
    }
    headers = {}
    if op["status"] == "InProgress":
        body["status"] = "Updating"
        body["percentComplete"] = 0.0
        headers["Retry-After"] = str(int(_settings(state, "retryAfterSeconds", 1)))
    else:
        body["percentComplete"] = 100.0
        body["endTime"] = op.get("endTime")
    return json_response(200, body, headers)


# --- diagnostic settings ---------------------------------------------------------------------------


def _diag_key(uri: str) -> str:
    return normalize_id(uri) + "/providers/microsoft.insights/diagnosticsettings"


def _diag_all(state: EmulatorState, uri: str) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, dict[str, Any]]] = state.extensions.setdefault("diagnostic_settings", {})
    if not table and resources(state).get("/_diagnostic_settings") is not None:
        table.update(resources(state).get("/_diagnostic_settings") or {})
    return table.setdefault(_diag_key(uri), {})


def _diag_save(state: EmulatorState) -> None:
    resources(state).put("/_diagnostic_settings", state.extensions.get("diagnostic_settings", {}))


def _resource_or_404(state: EmulatorState, uri: str) -> tuple[dict[str, Any] | None, Response | None]:
    body = resources(state).get(uri)
    return (body, None) if body is not None else (None, _not_found(uri))


def _diag_list(state: EmulatorState, request: Request) -> Response:
    uri = request.params["uri"]
    _, missing = _resource_or_404(state, uri)
    if missing is not None:
        return missing
    return json_response(200, {"value": list(_diag_all(state, uri).values())})


def _diag_get(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    found = _diag_all(state, uri).get(name.lower())
    if found is None:
        return arm_error(404, "ResourceNotFound", f"The diagnostic setting '{name}' doesn't exist.")
    return json_response(200, found)


def _diag_delete(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    removed = _diag_all(state, uri).pop(name.lower(), None)
    _diag_save(state)
    return Response(200 if removed is not None else 204)


def _diag_categories(state: EmulatorState, request: Request) -> Response:
    uri = request.params["uri"]
    _, missing = _resource_or_404(state, uri)
    if missing is not None:
        return missing
    prefix = normalize_id(uri) + "/providers/microsoft.insights/diagnosticSettingsCategories/"
    values = [
        {
            "id": prefix + name,
            "name": name,
            "type": "microsoft.insights/diagnosticSettingsCategories",
            "properties": {"categoryType": "Logs", "categoryGroups": ["allLogs"]},
        }
        for name in COMPONENT_LOG_CATEGORIES
    ]
    values.append(
        {
            "id": prefix + "AllMetrics",
            "name": "AllMetrics",
            "type": "microsoft.insights/diagnosticSettingsCategories",
            "properties": {"categoryType": "Metrics", "categoryGroups": []},
        }
    )
    return json_response(200, {"value": values})


def _diag_put(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    target, missing = _resource_or_404(state, uri)
    if missing is not None or target is None:
        return missing or _not_found(uri)
    body = request.json() or {}
    props = body.get("properties") or {}
    problem = _diag_problem(state, target, props)
    if problem is not None:
        return arm_error(400, "BadRequest", problem)
    existing = _diag_all(state, uri)
    if name.lower() not in existing and len(existing) >= MAX_DIAGNOSTIC_SETTINGS:
        return arm_error(
            400,
            "BadRequest",
            f"Diagnostic settings does not support more than {MAX_DIAGNOSTIC_SETTINGS} diagnostic settings per resource.",
        )
    stored = {
        "id": f"{uri}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "location": None,
        "kind": None,
        "tags": None,
        "properties": {
            "storageAccountId": props.get("storageAccountId"),
            "serviceBusRuleId": props.get("serviceBusRuleId"),
            "workspaceId": props.get("workspaceId"),
            "eventHubAuthorizationRuleId": props.get("eventHubAuthorizationRuleId"),
            "eventHubName": props.get("eventHubName"),
            "metrics": props.get("metrics") or [],
            "logs": props.get("logs") or [],
            "logAnalyticsDestinationType": props.get("logAnalyticsDestinationType"),
        },
        "systemData": None,
    }
    existing[name.lower()] = stored
    _diag_save(state)
    return json_response(200, stored)


def _diag_problem(state: EmulatorState, target: dict[str, Any], props: dict[str, Any]) -> str | None:
    """Azure's validation of a diagnostic setting, as one message (None when valid)."""
    destinations = [
        props.get(k)
        for k in (
            "storageAccountId",
            "workspaceId",
            "eventHubAuthorizationRuleId",
            "serviceBusRuleId",
            "marketplacePartnerId",
        )
    ]
    if not any(destinations):
        return "At least one storage account, event hub, log analytics workspace or partner solution must be specified."
    is_component = str(target.get("type", "")).lower() == "microsoft.insights/components"
    for entry in props.get("logs") or []:
        category = entry.get("category")
        group = entry.get("categoryGroup")
        if category and is_component and category not in COMPONENT_LOG_CATEGORIES:
            return f"Category '{category}' is not supported."
        if group and group not in ("allLogs", "audit"):
            return f"Category group '{group}' is not supported."
    storage_id = props.get("storageAccountId")
    if storage_id:
        account = resources(state).get(storage_id)
        if account is None:
            return f"Resource '{storage_id}' was not found."
        if (
            str(account.get("location", "")).replace(" ", "").lower()
            != str(target.get("location", "")).replace(" ", "").lower()
        ):
            return (
                f"Storage account '{storage_id.rsplit('/', 1)[-1]}' must be in the same region as the resource "
                f"('{target.get('location')}'); it is in '{account.get('location')}'."
            )
    workspace_id = props.get("workspaceId")
    if workspace_id and resources(state).get(workspace_id) is None:
        return f"Resource '{workspace_id}' was not found."
    return None
