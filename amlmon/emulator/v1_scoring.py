"""The scoring routes of emulated v1 services (public, like a service's scoring URI):
POST {endpoint}/api/v1/service/{name}/score    proxied to the inference child's /score, or answered
                                               in-process for a service without one
GET  {endpoint}/api/v1/service/{name}/swagger.json
"""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.inference import BACKEND, InferenceManager, ServiceEntry
from amlmon.emulator.inference_process import ChildStartError, InferenceChild

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

PROXY_TIMEOUT = 120.0
# Headers a scoring client sends that the server reads; and the server's answer headers worth passing on.
_FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "x-ms-client-request-id",
    "x-ms-request-id",
    "x-request-id",
    "TraceId",
)
_FORWARDED_RESPONSE_HEADERS = (
    "Content-Type",
    "x-ms-request-id",
    "x-ms-client-request-id",
    "x-request-id",
    "x-ms-run-fn-exec-ms",
    "x-ms-run-function-failed",
    "x-ms-server-version",
    "TraceId",
)


def register(router: Router, state: EmulatorState) -> None:
    inference = state.inference

    def served(request: Request, otherwise: Response | None) -> InferenceChild | Response:
        """The service's running child, or the answer instead of one (no such service; no inference
        server behind it: `otherwise`, or None for the in-process score; the child would not start)."""
        name = request.params["name"]
        entry = inference.find(name)
        if entry is None:
            return _not_found(name)
        if entry.backend != BACKEND:
            return otherwise if otherwise is not None else _canned_score(request)
        return _child_or_error(inference, entry)

    def score(request: Request) -> Response:
        child = served(request, None)
        return child if isinstance(child, Response) else _proxy(child, "POST", "/score", request)

    def swagger(request: Request) -> Response:
        child = served(
            request, json_response(404, {"message": "Swagger not found. The service has no schema."})
        )
        if isinstance(child, Response):
            return child
        query = request.raw_path.partition("?")[2]
        return _proxy(child, "GET", "/swagger.json" + (f"?{query}" if query else ""), request)

    router.add("POST", r"/api/v1/service/(?P<name>[^/]+)/score", score)
    router.add("GET", r"/api/v1/service/(?P<name>[^/]+)/swagger\.json", swagger)


def _not_found(name: str) -> Response:
    return json_response(404, {"message": f"Service {name} not found."})


def _proxy(child: InferenceChild, method: str, path: str, request: Request) -> Response:
    headers = {
        name: value for name in _FORWARDED_REQUEST_HEADERS if (value := request.header(name)) is not None
    }
    conn = http.client.HTTPConnection("127.0.0.1", child.port, timeout=PROXY_TIMEOUT)
    try:
        conn.request(method, path, body=request.body if method == "POST" else None, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
    except OSError as exc:  # the server died or hung: a gateway error, as the service's front end answers
        return json_response(502, {"message": f"The service's inference server did not answer: {exc}"})
    finally:
        conn.close()
    kept = {
        name: value for name in _FORWARDED_RESPONSE_HEADERS if (value := answer.getheader(name)) is not None
    }
    return Response(answer.status, body, kept)


def _canned_score(request: Request) -> Response:
    from amlmon.emulator.sample_model.churn_model import canned_prediction

    status, body = canned_prediction(request.body)
    headers = {}
    for name in ("x-ms-client-request-id", "x-ms-request-id"):
        value = request.header(name)
        if value is not None:
            headers[name] = value
    return json_response(status, body, headers)


def _child_or_error(inference: InferenceManager, entry: ServiceEntry) -> InferenceChild | Response:
    try:
        return inference.ensure_child(entry)
    except ChildStartError as exc:
        return json_response(503, {"message": f"The service's inference server is not available: {exc}"})
