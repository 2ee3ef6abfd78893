"""The v2 endpoint's scoring front door: POST {endpoint}/api/v1/endpoint/{ep}/score.

To the deployment named by the `azureml-model-deployment` header, else one chosen by the endpoint's
traffic weights; a fresh `x-request-id` unless the client sent one. Each request is counted in the
platform metrics and, when the endpoint's diagnostic settings send AmlOnlineEndpointTrafficLog, becomes a
traffic-log row with durations measured here (whole milliseconds)."""

from __future__ import annotations

import http.client
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.inference_process import ChildStartError
from amlmon.emulator.log_ledger import insert_row, log_destinations
from amlmon.emulator.online_inference import (
    ML_ENDPOINTS,
    TRAFFIC,
    OnlineChild,
    inference_backed,
)
from amlmon.emulator.store import utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

PROXY_TIMEOUT = 120.0
_FORWARDED = ("Content-Type", "x-ms-client-request-id", "x-request-id")
_ANSWER_HEADERS = ("Content-Type", "x-request-id", "x-ms-client-request-id", "x-ms-request-id")


def register(router: Router, state: EmulatorState) -> None:
    router.add("POST", r"/api/v1/endpoint/(?P<name>[^/]+)/score", lambda r: score(state, r))


def _endpoint(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The endpoint called `name` (the most recently created one if several workspaces have one)."""
    found = [
        e for e in state.resources.list(type=ML_ENDPOINTS) if str(e.get("name", "")).lower() == name.lower()
    ]
    if not found:
        return None
    return max(found, key=lambda e: str((e.get("systemData") or {}).get("createdAt") or ""))


def _pick_deployment(
    state: EmulatorState, endpoint: dict[str, Any], request: Request
) -> dict[str, Any] | None:
    asked = request.header("azureml-model-deployment")
    deployments = {
        str(d.get("name", "")).lower(): d
        for d in state.resources.list(prefix=f"{endpoint['id']}/deployments")
    }
    if asked:
        return deployments.get(asked.lower())
    traffic = {
        k.lower(): float(v) for k, v in ((endpoint.get("properties") or {}).get("traffic") or {}).items()
    }
    weighted = [(name, weight) for name, weight in traffic.items() if weight > 0 and name in deployments]
    if not weighted:
        return None
    names, weights = zip(*weighted, strict=True)
    return deployments[random.choices(names, weights=weights)[0]]


def _forward(
    online: OnlineChild, request: Request, request_id: str
) -> tuple[int, str, dict[str, str], bytes, float]:
    """POST /score to the child; (status, reason, headers, body, seconds to the first response byte)."""
    headers = {name: value for name in _FORWARDED if (value := request.header(name)) is not None}
    headers["x-request-id"] = request_id
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", online.child.port, timeout=PROXY_TIMEOUT)
    try:
        conn.request("POST", "/score", body=request.body, headers=headers)
        answer = conn.getresponse()
        first_byte = time.monotonic() - started
        body = answer.read()
    finally:
        conn.close()
    kept = {name: value for name in _ANSWER_HEADERS if (value := answer.getheader(name)) is not None}
    return answer.status, answer.reason, kept, body, first_byte


def _traffic_row(
    state: EmulatorState,
    endpoint: dict[str, Any],
    deployment: str,
    request: Request,
    request_id: str,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    ws_id = str(endpoint["id"]).split("/onlineEndpoints/")[0]
    workspace = state.resources.get(ws_id) or {}
    return {
        "TimeGenerated": outcome["start"],
        "Method": request.method,
        "Path": request.path,
        "Protocol": "HTTP/1.1",
        "ResponseCode": outcome["status"],
        "ResponseCodeReason": outcome["reason"],
        "ModelStatusCode": outcome["model_status"],
        "ModelStatusReason": outcome["model_reason"],
        "TotalDurationMs": outcome["total_ms"],
        "RequestDurationMs": 0,  # the emulator's HTTP server has the whole body before the route runs
        "ResponseDurationMs": outcome["first_byte_ms"],
        "RequestThrottlingDelayMs": 0,
        "ResponseThrottlingDelayMs": 0,
        "RequestPayloadSize": len(request.body),
        "ResponsePayloadSize": outcome["size"],
        "XRequestId": request_id,
        "XMSClientRequestId": request.header("x-ms-client-request-id"),
        "EndpointName": endpoint.get("name"),
        "DeploymentName": deployment,
        "AuthType": (endpoint.get("properties") or {}).get("authMode"),
        "UserAgent": request.header("User-Agent"),
        "Location": endpoint.get("location"),
        "AzureMLWorkspaceId": (workspace.get("properties") or {}).get("workspaceId"),
        "AzureMLWorkspaceName": workspace.get("name"),
        "_ResourceId": str(endpoint["id"]).upper(),
    }


def score(state: EmulatorState, request: Request) -> Response:
    name = request.params["name"]
    endpoint = _endpoint(state, name)
    if endpoint is None:
        return json_response(404, {"message": f"Endpoint {name} not found."})
    started, start_time = time.monotonic(), utcnow()
    request_id = request.header("x-request-id") or str(uuid.uuid4())
    deployment = _pick_deployment(state, endpoint, request)
    model_status, model_reason, first_byte = 0, "", 0.0
    if deployment is None:
        response = json_response(404, {"message": "No valid deployments to route to."})
        dep_name = request.header("azureml-model-deployment") or ""
    else:
        dep_name = str(deployment.get("name"))
        response, model_status, model_reason, first_byte = _serve(state, deployment, request, request_id)
    response.headers.setdefault("x-request-id", request_id)
    response.headers["azureml-model-deployment"] = dep_name
    total_ms = round((time.monotonic() - started) * 1000)
    from amlmon.emulator.metric_samples import record_request

    record_request(state, str(endpoint["id"]), dep_name, response.status, model_status, total_ms)
    if log_destinations(state, str(endpoint["id"]), TRAFFIC):
        outcome = {
            "start": start_time,
            "status": response.status,
            "reason": http.client.responses.get(response.status, ""),
            "model_status": model_status,
            "model_reason": model_reason,
            "total_ms": total_ms,
            "first_byte_ms": round(first_byte * 1000),
            "size": len(response.body),
        }
        insert_row(state, TRAFFIC, _traffic_row(state, endpoint, dep_name, request, request_id, outcome))
    return response


def _serve(
    state: EmulatorState, deployment: dict[str, Any], request: Request, request_id: str
) -> tuple[Response, int, str, float]:
    """The deployment's answer, the model's own status and reason, and seconds to its first byte."""
    if not inference_backed(state, str(deployment["id"])):
        from amlmon.emulator.sample_model.churn_model import canned_prediction

        canned_status, canned = canned_prediction(request.body)
        reason = http.client.responses.get(canned_status, "")
        return json_response(canned_status, canned), canned_status, reason, 0.0
    try:
        online = state.online.ensure(deployment)
        status, reason, headers, body, first_byte = _forward(online, request, request_id)
    except ChildStartError as exc:
        message = f"The deployment's inference server is not available: {exc}"
        return json_response(503, {"message": message}), 0, "", 0.0
    except OSError as exc:
        message = f"The deployment's inference server did not answer: {exc}"
        return json_response(502, {"message": message}), 0, "", 0.0
    _log_payloads(online, request, request_id, headers, body)
    return Response(status, body, headers), status, reason, first_byte


def _log_payloads(
    online: OnlineChild, request: Request, request_id: str, headers: dict[str, str], body: bytes
) -> None:
    """Payload logging: the request and response bodies to the `request`/`response` collections when
    the deployment's dataCollector turns them on (the path is the deployment's, as the docs' records show)."""
    collector = online.sidecar.collector
    if not (collector.enabled("request") or collector.enabled("response")):
        return
    query = request.raw_path.partition("?")[2]
    path = "/score" + (f"?{query}" if query else "")
    sent = (request.method, path, request.header("Content-Type") or "", request.body)
    online.sidecar.payloads(request_id, sent, (headers.get("Content-Type", ""), body))
