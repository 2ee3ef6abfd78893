"""The AML discovery document and the v1 model-management API for ACI/AKS web services.

Errors here are flat (`{code, statusCode, message, details}`), not ARM's `{"error": …}`. Updates are a
JSON-patch list answered 202 + `Operation-Location`; the operation stays Running (service state
Transitioning) for `settings.operationSeconds`, then the patch is applied and the operation Succeeds —
or Fails, when a test asked for it with `PATCH /_emulator/services {"failNextUpdate": …}`.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.mms_services import now_text, public, run_hooks, workspace_resource_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

BASE = (
    r"/modelmanagement/v1\.0/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)
FINAL_STATES = ("Succeeded", "Failed", "Cancelled", "TimedOut")
PATCH_OPS = ("add", "replace", "remove")


def mms_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(
        status, {"code": code, "statusCode": status, "message": message, "details": []}, headers
    )


# --- routes ---------------------------------------------------------------------------------------


def register(router: Router, state: EmulatorState) -> None:
    def discovery(request: Request) -> Response:
        host = state.endpoint
        return json_response(
            200,
            {
                "api": host,
                "catalog": host,
                "experimentation": host,
                "gallery": host,
                "history": host,
                "hyperdrive": host,
                "labeling": host,
                "modelmanagement": host,
                "pipelines": host,
                "studiocoreservices": host,
            },
        )

    router.add("GET", r"/discovery(/.*)?", discovery)
    router.add("GET", BASE + r"/services", lambda r: _list(state, r))
    router.add("GET", BASE + r"/services/(?P<name>[^/]+)", lambda r: _get(state, r))
    router.add("PATCH", BASE + r"/services/(?P<name>[^/]+)", lambda r: _patch(state, r))
    router.add("GET", BASE + r"/operations/(?P<op>[^/]+)", lambda r: _operation(state, r))


def _ws_id(request: Request) -> str:
    return workspace_resource_id(request.params["sub"], request.params["rg"], request.params["ws"])


def _workspace_missing(state: EmulatorState, request: Request) -> Response | None:

    if state.resources.get(_ws_id(request)) is None:
        return mms_error(404, "WorkspaceNotFound", f"Workspace {request.params['ws']} was not found.")
    return None


def finish_due(state: EmulatorState) -> None:
    """Complete operations whose time has come: apply the patch, or fail as asked."""
    store = state.services
    now = time.time()
    finished = []
    with store.lock:
        for op in store.operations.values():
            if op["state"] in FINAL_STATES or now < op["due"]:
                continue
            service = store.services.get(op["serviceKey"])
            if service is None:
                op["state"] = "Failed"
                op["error"] = {"code": "ServiceNotFound", "message": "The service was deleted."}
                continue
            if op.get("fail"):
                op["state"] = "Failed"
                op["error"] = {"code": "ServiceUpdateFailed", "statusCode": 500, "message": op["fail"]}
                service["state"] = "Failed"
                service["error"] = op["error"]
            else:
                _apply_patch(service, op["patch"])
                service["state"] = "Healthy"
                service["error"] = None
                op["state"] = "Succeeded"
                finished.append(copy.deepcopy(service))
            service["updatedTime"] = now_text()
            service["operationId"] = None
            op["endTime"] = now_text()
        if any(op["state"] in FINAL_STATES for op in store.operations.values()):
            store.save()
    for service in finished:
        run_hooks(state, service)


def _list(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_missing(state, request)
    if missing is not None:
        return missing
    finish_due(state)
    found = [public(s, state.endpoint) for s in state.services.in_workspace(_ws_id(request))]
    compute = request.q("computeType")
    if compute:
        found = [s for s in found if s["computeType"].lower() == compute.lower()]
    name = request.q("name")
    if name:
        found = [s for s in found if fnmatch.fnmatch(s["name"].lower(), name.lower())]
    for query_key, field in (("tags", "kvTags"), ("properties", "properties")):
        wanted = _key_values(request.q(query_key))
        if wanted:
            found = [s for s in found if _has_all(s.get(field) or {}, wanted)]
    for query_key, model_key in (("modelId", "id"), ("modelName", "name")):
        value = request.q(query_key)
        if value:
            found = [s for s in found if any(m.get(model_key) == value for m in s.get("models") or [])]
    order = (request.q("orderby") or "").lower()
    if order not in ("", "createdatdesc", "createdatasc", "updatedatdesc", "updatedatasc"):
        return mms_error(
            400, "BadRequest", f"orderby {request.q('orderby')} is not one of the supported orders."
        )
    found.sort(key=lambda s: s["name"].lower())
    if order:
        field = "createdTime" if order.startswith("created") else "updatedTime"
        found.sort(key=lambda s: s.get(field) or "", reverse=order.endswith("desc"))
    size = max(1, int(state.number("pageSize", 100)))
    try:
        size = max(1, min(size, int(request.q("count") or size)))
    except ValueError:
        return mms_error(400, "BadRequest", "count must be an integer.")
    try:
        skip = int(request.q("$skipToken") or request.q("skipToken") or 0)
    except ValueError:
        return mms_error(400, "BadRequest", "The skip token is not valid.")
    body: dict[str, Any] = {"value": found[skip : skip + size]}
    if skip + size < len(found):
        from urllib.parse import urlencode

        query = urlencode(
            [(k, v[0]) for k, v in request.query.items() if k.lower() not in ("$skiptoken", "skiptoken")]
        )
        body["nextLink"] = (
            f"{state.endpoint}{request.path}?{query}{'&' if query else ''}$skipToken={skip + size}"
        )
    return json_response(200, body)


def _key_values(text: str | None) -> dict[str, str | None]:
    """`k1,k2=v2` (the spec's tags/properties filter) → {k1: None, k2: "v2"}."""
    wanted: dict[str, str | None] = {}
    for part in (text or "").split(","):
        if part.strip():
            key, has_value, value = part.partition("=")
            wanted[key.strip()] = value if has_value else None
    return wanted


def _has_all(values: dict[str, Any], wanted: dict[str, str | None]) -> bool:
    return all(k in values and v in (None, values[k]) for k, v in wanted.items())


def _get(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_missing(state, request)
    if missing is not None:
        return missing
    finish_due(state)
    service = state.services.get(_ws_id(request), request.params["name"])
    if service is None:
        return mms_error(
            404,
            "ServiceNotFound",
            f"Service {request.params['name']} not found in workspace {request.params['ws']}.",
        )
    return json_response(200, public(service, state.endpoint))


def _patch_problem(patch: Any, service: dict[str, Any]) -> str | None:
    if not isinstance(patch, list) or not patch:
        return "The request body must be a non-empty JSON patch list."
    for item in patch:
        if (
            not isinstance(item, dict)
            or item.get("op") not in PATCH_OPS
            or not str(item.get("path", "")).startswith("/")
        ):
            return f"Invalid JSON patch operation: {json.dumps(item)}"
        parts = [p for p in str(item["path"]).split("/") if p]
        if (
            not parts
            or parts[0].startswith("_")
            or parts[0] in ("name", "id", "computeType", "state", "createdTime")
        ):
            return f"Path {item['path']} cannot be updated."
        if item["op"] != "remove" and "value" not in item:
            return f"Operation {item['op']} on {item['path']} needs a value."
        if parts[-1] in (
            "appInsightsEnabled",
            "storageEnabled",
            "eventHubEnabled",
            "authEnabled",
        ) and not isinstance(item.get("value"), bool):
            return f"{item['path']} must be true or false."
    return None


def _apply_patch(service: dict[str, Any], patch: list[dict[str, Any]]) -> None:
    for item in patch:
        parts = [p for p in str(item["path"]).split("/") if p]
        target = service
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if item["op"] == "remove":
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = copy.deepcopy(item["value"])


def _patch(state: EmulatorState, request: Request) -> Response:
    missing = _workspace_missing(state, request)
    if missing is not None:
        return missing
    finish_due(state)
    store = state.services
    ws_id, name = _ws_id(request), request.params["name"]
    with store.lock:
        service = store.services.get(store.key(ws_id, name))
        if service is None:
            return mms_error(
                404, "ServiceNotFound", f"Service {name} not found in workspace {request.params['ws']}."
            )
        if service["state"] == "Transitioning":
            return mms_error(
                409,
                "Conflict",
                f"Service {name} is in state Transitioning: an operation is in progress. "
                "Wait for it to complete before updating the service.",
            )
        patch = request.json()
        problem = _patch_problem(patch, service)
        if problem is not None:
            return mms_error(400, "BadRequest", problem)
        op_id = str(uuid.uuid4())
        store.operations[op_id] = {
            "id": op_id,
            "state": "Running",
            "serviceKey": store.key(ws_id, name),
            "serviceName": name,
            "patch": patch,
            "due": time.time() + state.number("operationSeconds", 0.5),
            "fail": store.fail_next.pop(store.key(ws_id, name), None),
            "createdTime": now_text(),
        }
        service["state"] = "Transitioning"
        service["operationId"] = op_id
        store.save()
    base = request.path.rsplit("/services/", 1)[0]
    location = f"{state.endpoint}{base}/operations/{op_id}"
    retry = str(int(state.number("retryAfterSeconds", 1)))
    return json_response(202, {"operationId": op_id}, {"Operation-Location": location, "Retry-After": retry})


def _operation(state: EmulatorState, request: Request) -> Response:
    finish_due(state)
    store = state.services
    op = store.operations.get(request.params["op"])
    if op is None:
        return mms_error(404, "OperationNotFound", f"Operation {request.params['op']} not found.")
    body = {
        "id": op["id"],
        "operationType": "ServiceUpdate",
        "state": op["state"],
        "createdTime": op["createdTime"],
        "endTime": op.get("endTime"),
        "resourceLocation": f"{request.path.rsplit('/operations/', 1)[0]}/services/{op['serviceName']}",
        "error": op.get("error"),
    }
    headers = {}
    if op["state"] not in FINAL_STATES:
        headers["Retry-After"] = str(int(state.number("retryAfterSeconds", 1)))
    return json_response(200, body, headers)


def force_service(state: EmulatorState, body: dict[str, Any]) -> Response:
    """PATCH /_emulator/services: force a state, or make the next update fail."""
    ws_id = workspace_resource_id(body["subscription"], body["resourceGroup"], body["workspace"])
    store = state.services
    with store.lock:
        service = store.services.get(store.key(ws_id, body["name"]))
        if service is None:
            return mms_error(404, "ServiceNotFound", f"Service {body['name']} not found.")
        if "state" in body:
            service["state"] = body["state"]
        if body.get("failNextUpdate"):
            store.fail_next[store.key(ws_id, body["name"])] = str(body["failNextUpdate"])
        store.save()
        return json_response(200, public(service))
