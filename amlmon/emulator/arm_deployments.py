"""v2 online deployments: GET/list, PUT as an async LRO (Azure-AsyncOperation → mfeOperationsStatus),
ETag/If-Match, 409 while an operation runs, PATCH of tags/sku/identity."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm_common import ML, _guid, _not_found, _now, _page, _settings
from amlmon.emulator.arm_create import _etag, _store_deployment
from amlmon.emulator.http import Request, Response, arm_error, json_response
from amlmon.emulator.resources import normalize_id, resources

if TYPE_CHECKING:
    from amlmon.emulator.server import EmulatorState


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
        "x-ms-async-operation-timeout": "PT30M",
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
