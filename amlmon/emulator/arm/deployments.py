"""v2 online deployments: GET/list, PUT as an async LRO (Azure-AsyncOperation → mfeOperationsStatus),
409 while an operation runs, PATCH of tags/sku/identity.

Real ARM answers deployment and endpoint GET/PUT without an ETag (no header, no `etag` in the body; see
the recorded online-deployment traffic), so the emulator does too. Setting `deploymentETags: true`
(PUT /_emulator/settings) turns ETags and If-Match checks on, for testing clients that use them.
Setting `changeDeployment` makes someone else's change land at a chosen moment (see `_meddle`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm.common import ML, guid, knows_data_collector, modified, not_found, now_text, paged
from amlmon.emulator.arm.create import deployment_etag, store_deployment
from amlmon.emulator.http import Request, Response, arm_error, json_response
from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


# --- online deployments (async LRO) ---------------------------------------------------------------


def finish_due(state: EmulatorState) -> None:
    now = time.time()
    for op in state.operations.values():
        if op["status"] == "InProgress" and now >= op["due"]:
            body = state.resources.get(op["resourceId"])
            failed = op.get("error") is not None
            if op.get("action") == "delete" and not failed:
                state.resources.delete(op["resourceId"])
            elif body is not None:
                body["properties"]["provisioningState"] = "Failed" if failed else "Succeeded"
                state.resources.put(op["resourceId"], body)
            op["status"] = "Failed" if failed else "Succeeded"
            op["endTime"] = now_text()


def _planned_failure(state: EmulatorState, resource_id: str) -> dict[str, str] | None:
    """Settings key `failNextDeploymentUpdate` ({"ep/dep": message}, via PUT /_emulator/settings) makes
    that deployment's next operation end Failed, the way a bad image or quota does."""
    plans = state.settings.get("failNextDeploymentUpdate")
    if not isinstance(plans, dict):
        return None
    parts = resource_id.strip("/").split("/")
    key = "/".join(parts[-3::2]).lower() if "/deployments/" in resource_id.lower() else parts[-1].lower()
    for name in list(plans):
        if name.lower() == key:
            message = str(plans.pop(name))
            return {"code": "DeploymentFailed", "message": message}
    return None


def etags_on(state: EmulatorState) -> bool:
    return state.settings.get("deploymentETags") is True


def models_collector(state: EmulatorState, api_version: str | None) -> bool:
    """Whether that api-version's model has dataCollector. Setting `withoutDataCollector` (a list of
    api-versions) makes more versions lack it, to stage a service whose model drops the field."""
    extra = state.settings.get("withoutDataCollector")
    if isinstance(extra, list) and str(api_version) in extra:
        return False
    return knows_data_collector(api_version)


def shown(state: EmulatorState, body: dict[str, Any], api_version: str | None = None) -> dict[str, Any]:
    """A stored endpoint/deployment as ARM sends it: the ETag only when the setting asks for it, and
    a deployment's dataCollector only at an api-version whose model has it."""
    if not etags_on(state):
        body.pop("etag", None)
    props = body.get("properties")
    if api_version is not None and isinstance(props, dict) and not models_collector(state, api_version):
        props.pop("dataCollector", None)
    return body


def _deployment_response(
    state: EmulatorState, dep_id: str, status: int = 200, extra: Any = None, api_version: str | None = None
) -> Response:
    body = state.resources.get(dep_id)
    if body is None:
        return not_found(dep_id)
    headers = dict(extra or {})
    if etags_on(state):
        headers["ETag"] = deployment_etag(state, dep_id)
    return json_response(status, shown(state, body, api_version), headers)


def get_deployment(state: EmulatorState, request: Request) -> Response:
    finish_due(state)
    response = _deployment_response(state, request.path, api_version=request.q("api-version"))
    _meddle(state, request.path, "GET")
    return response


def _meddle(state: EmulatorState, dep_id: str, method: str) -> None:
    """Someone else's change, landing right after a chosen request was answered.

    Setting `changeDeployment`: {"ep/dep": {"after": "GET"|"PUT", "count": N, "merge": {...}}}: after
    the Nth such request to that deployment, `merge` is merged (recursively) into the stored body.
    Used once, then forgotten.
    """
    plans = state.settings.get("changeDeployment")
    if not isinstance(plans, dict):
        return
    parts = dep_id.strip("/").split("/")
    key = f"{parts[-3]}/{parts[-1]}".lower()
    for name, plan in list(plans.items()):
        if (
            name.lower() != key
            or not isinstance(plan, dict)
            or str(plan.get("after", "GET")).upper() != method
        ):
            continue
        plan["seen"] = int(plan.get("seen", 0)) + 1
        if plan["seen"] < int(plan.get("count", 1)):
            continue
        plans.pop(name)
        body = state.resources.get(dep_id)
        if body is not None:
            body["systemData"] = modified(body)  # someone else's write is a write too
            store_deployment(state, dep_id, _merged(body, plan.get("merge") or {}))


def _merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merged(base[key], value)
        else:
            base[key] = value
    return base


def list_deployments(state: EmulatorState, request: Request) -> Response:
    finish_due(state)
    endpoint_id = request.path.rsplit("/deployments", 1)[0]
    if state.resources.get(endpoint_id) is None:
        return not_found(endpoint_id)
    found = state.resources.list(prefix=request.path, type=f"{ML}/workspaces/onlineEndpoints/deployments")
    version = request.q("api-version")
    return paged(state, request, [shown(state, body, version) for body in found])


def _precondition(state: EmulatorState, request: Request, dep_id: str) -> Response | None:
    if not etags_on(state):
        return None  # no ETag is handed out, so none is checked
    wanted = request.header("If-Match")
    if wanted and wanted != "*" and wanted != deployment_etag(state, dep_id):
        return arm_error(
            412,
            "PreconditionFailed",
            "The specified If-Match precondition does not match the resource's current ETag.",
        )
    return None


def _busy(state: EmulatorState, dep_id: str) -> Response | None:
    for op in state.operations.values():
        if op["status"] == "InProgress" and normalize_id(op["resourceId"]) == normalize_id(dep_id):
            return arm_error(
                409,
                "Conflict",
                f"There is already an ongoing operation on the deployment {dep_id.rsplit('/', 1)[-1]}: "
                "wait for it to finish before starting another.",
            )
    return None


def _write_refused(
    state: EmulatorState, request: Request, parent_id: str, resource_id: str, kind: str
) -> Response | None:
    """Why ARM refuses a PUT of `resource_id` (its parent missing, If-Match, an operation still running,
    a body without properties), or None."""
    if state.resources.get(parent_id) is None:
        return not_found(parent_id)
    refused = _precondition(state, request, resource_id) or _busy(state, resource_id)
    if refused is not None:
        return refused
    incoming = request.json()
    if not isinstance(incoming, dict) or not isinstance(incoming.get("properties"), dict):
        return arm_error(400, "BadRequest", f"The request body must be {kind} with a 'properties' object.")
    return None


def put_deployment(state: EmulatorState, request: Request) -> Response:
    finish_due(state)
    dep_id = request.path
    endpoint_id = dep_id.rsplit("/deployments/", 1)[0]
    refused = _write_refused(state, request, endpoint_id, dep_id, "a deployment")
    if refused is not None:
        return refused
    endpoint = state.resources.get(endpoint_id) or {}
    incoming = request.json()
    existing = state.resources.get(dep_id)
    name = dep_id.rsplit("/", 1)[-1]
    body = dict(incoming)
    body.update({"id": dep_id, "name": name, "type": f"{ML}/workspaces/onlineEndpoints/deployments"})
    body.setdefault("location", endpoint.get("location"))
    body["properties"] = {**incoming["properties"], "provisioningState": "Updating"}
    if not models_collector(state, request.q("api-version")):
        # The service deserializes with that version's model: a field it lacks is not stored.
        body["properties"].pop("dataCollector", None)
    body["properties"].setdefault("endpointComputeType", endpoint.get("kind", "Managed"))
    body["systemData"] = modified(existing)
    store_deployment(state, dep_id, body)
    response = _start_operation(state, request, dep_id, 200 if existing else 201)
    _meddle(state, dep_id, "PUT")
    return response


def _start_operation(
    state: EmulatorState,
    request: Request,
    dep_id: str,
    status: int,
    prefix: str = "od",
) -> Response:
    """Register an operation and answer as recorded: Azure-AsyncOperation → mfeOperationsStatus."""
    _, headers = _new_operation(state, request, dep_id, prefix)
    headers["Location"] = f"{state.endpoint}{dep_id}?api-version={request.q('api-version')}"
    return _deployment_response(state, dep_id, status, headers, api_version=request.q("api-version"))


def _new_operation(
    state: EmulatorState,
    request: Request,
    resource_id: str,
    prefix: str,
    action: str = "write",
) -> tuple[str, dict[str, str]]:
    # Op-id prefixes as recorded: `oe:` endpoint, `od:` deployment.
    op_id = f"{prefix}:{guid()}"
    sub = request.params["sub"]
    location = (state.resources.get(resource_id) or {}).get("location") or "westeurope"
    version = request.q("api-version")
    state.operations[op_id] = {
        "id": op_id,
        "resourceId": resource_id,
        "action": action,
        "status": "InProgress",
        "startTime": now_text(),
        "due": time.time() + state.number("operationSeconds", 0.5),
        "error": _planned_failure(state, resource_id),
    }
    base = f"{state.endpoint}/subscriptions/{sub}/providers/{ML}/locations/{location}"
    headers = {
        "Azure-AsyncOperation": f"{base}/mfeOperationsStatus/{op_id}?api-version={version}",
        "x-ms-async-operation-timeout": "PT30M",
        "Retry-After": str(int(state.number("retryAfterSeconds", 1))),
    }
    if action == "delete":
        headers["Location"] = f"{base}/mfeOperationResults/{op_id}?api-version={version}"
    return op_id, headers


def put_endpoint(state: EmulatorState, request: Request) -> Response:
    """Create or update an online endpoint: 201 `Creating` / 200 `Updating`, then Succeeded."""
    finish_due(state)
    ep_id = request.path
    workspace_id = ep_id.rsplit("/onlineEndpoints/", 1)[0]
    refused = _write_refused(state, request, workspace_id, ep_id, "an endpoint")
    if refused is not None:
        return refused
    workspace = state.resources.get(workspace_id) or {}
    incoming = request.json()
    existing = state.resources.get(ep_id) or {}
    name = ep_id.rsplit("/", 1)[-1]
    body = dict(incoming)
    body.update({"id": ep_id, "name": name, "type": f"{ML}/workspaces/onlineEndpoints"})
    body.setdefault("location", workspace.get("location"))
    old = existing.get("properties") or {}
    body["properties"] = {
        "traffic": old.get("traffic", {}),
        "scoringUri": old.get("scoringUri") or f"{state.endpoint}/api/v1/endpoint/{name}/score",
        **incoming["properties"],
        "provisioningState": "Updating" if existing else "Creating",
    }
    body["systemData"] = modified(existing)
    store_deployment(state, ep_id, body)
    return _start_operation(state, request, ep_id, 200 if existing else 201, prefix="oe")


def delete_deployment(state: EmulatorState, request: Request) -> Response:
    """202 with Azure-AsyncOperation and Location → mfeOperationResults, as recorded; 204 when absent."""
    finish_due(state)
    dep_id = request.path
    body = state.resources.get(dep_id)
    if body is None:
        return Response(204)
    refused = _busy(state, dep_id)
    if refused is not None:
        return refused
    body["properties"]["provisioningState"] = "Deleting"
    state.resources.put(dep_id, body)
    _, headers = _new_operation(state, request, dep_id, "od", action="delete")
    return json_response(202, None, headers)


def operation_result(state: EmulatorState, request: Request) -> Response:
    """The Location of a delete: 202 while it runs, then 200."""
    finish_due(state)
    op = state.operations.get(request.params["op"])
    if op is None:
        return arm_error(404, "NotFound", f"Operation {request.params['op']} was not found.")
    if op["status"] == "InProgress":
        return Response(202, b"", {"Retry-After": str(int(state.number("retryAfterSeconds", 1)))})
    return Response(200)


def patch_deployment(state: EmulatorState, request: Request) -> Response:
    """PATCH covers tags, sku and identity only (properties are changed by PUT)."""
    finish_due(state)
    dep_id = request.path
    body = state.resources.get(dep_id)
    if body is None:
        return not_found(dep_id)
    refused = _precondition(state, request, dep_id)
    if refused is not None:
        return refused
    patch = request.json() or {}
    for key in ("tags", "sku", "identity"):
        if key in patch:
            body[key] = patch[key]
    body["systemData"] = modified(body)
    store_deployment(state, dep_id, body)
    return _deployment_response(state, dep_id, api_version=request.q("api-version"))


def operation_status(state: EmulatorState, request: Request) -> Response:
    finish_due(state)
    op = state.operations.get(request.params["op"])
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
        headers["Retry-After"] = str(int(state.number("retryAfterSeconds", 1)))
    else:
        body["percentComplete"] = 100.0
        body["endTime"] = op.get("endTime")
        if op.get("error"):
            body["error"] = op["error"]
    return json_response(200, body, headers)


# --- data assets (workspaces/{ws}/data/{name}/versions/{version}) ------------------------------------

DATA_TYPES = ("uri_file", "uri_folder", "mltable")


def put_data_version(state: EmulatorState, request: Request) -> Response:
    """Create or update a data asset version: synchronous, 201 when new, 200 when it existed."""
    data_id = request.path
    ws_id = data_id.split("/data/", 1)[0]
    if state.resources.get(ws_id) is None:
        return not_found(ws_id)
    incoming = request.json()
    props = incoming.get("properties") if isinstance(incoming, dict) else None
    if not isinstance(props, dict):
        return arm_error(400, "UserError", "The request body must have a 'properties' object.")
    if props.get("dataType") not in DATA_TYPES or not props.get("dataUri"):
        return arm_error(
            400, "UserError", f"dataType must be one of {', '.join(DATA_TYPES)} and dataUri is required."
        )
    existing = state.resources.get(data_id)
    version = data_id.rsplit("/", 1)[-1]
    body = {
        "id": data_id,
        "name": version,
        "type": f"{ML}/workspaces/data/versions",
        "properties": {
            "dataType": props["dataType"],
            "dataUri": props["dataUri"],
            "description": props.get("description"),
            "tags": props.get("tags") or {},
            "properties": props.get("properties") or {},
            "isAnonymous": bool(props.get("isAnonymous", False)),
            "isArchived": bool(props.get("isArchived", False)),
        },
        "systemData": (existing or {}).get("systemData")
        or {"createdAt": now_text(), "createdBy": "amlmon-emulator", "createdByType": "User"},
    }
    state.resources.put(data_id, body)
    return json_response(200 if existing else 201, body)
