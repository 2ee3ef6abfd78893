"""`POST …/onlineEndpoints/{ep}/deployments/{dep}/getLogs`: a tail of a v2 deployment's container log.

Body `{"containerType": "InferenceServer"|"StorageInitializer", "tail": N}` (both optional: the
inference server, every line), answer `{"content": "…"}` — the same call `az ml online-deployment
get-logs` makes. For a deployment backed by a real inference server (online_inference.py) the content
is the last N lines the child printed (its stdout, as the emulator keeps it in the child's log file);
the child is started first if it is not running, as a real deployment's container always runs. The
emulator runs no storage initializer, and canned deployments no container: their content is empty.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from amlmon.emulator.arm.common import WS, not_found
from amlmon.emulator.http import Request, Response, Router, arm_error, json_response
from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

CONTAINER_TYPES = {"inferenceserver": "InferenceServer", "storageinitializer": "StorageInitializer"}


def _tail(path: str, lines: int | None) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            kept = deque(handle, maxlen=lines) if lines is not None else list(handle)
    except FileNotFoundError:
        return ""
    return "".join(kept)


def get_logs(state: EmulatorState, request: Request) -> Response:
    from amlmon.emulator.inference_process import ChildStartError
    from amlmon.emulator.online_inference import inference_backed

    if not request.q("api-version"):
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    deployment_id = request.path.rstrip("/")[: -len("/getLogs")]
    deployment = state.resources.get(deployment_id)
    if deployment is None:
        return not_found(deployment_id)
    try:
        body = request.json() or {}
    except ValueError:
        return arm_error(400, "BadRequest", "The request body is not valid JSON.")
    kind = CONTAINER_TYPES.get(str(body.get("containerType") or "InferenceServer").lower())
    tail = body.get("tail")
    if kind is None or (tail is not None and (not isinstance(tail, int) or tail < 0)):
        return arm_error(
            400,
            "BadRequest",
            "containerType must be InferenceServer or StorageInitializer and tail a non-negative integer.",
        )
    if kind != "InferenceServer" or not inference_backed(state, str(deployment["id"])):
        return json_response(200, {"content": ""})
    try:
        log_path = str(state.online.ensure(deployment).child.log_path)
    except ChildStartError:  # a container that fails to start still has its log
        found = state.online.children.get(normalize_id(str(deployment["id"])))
        if found is None:
            return json_response(200, {"content": ""})
        log_path = str(found.child.log_path)
    return json_response(200, {"content": _tail(log_path, tail)})


def register(router: Router, state: EmulatorState) -> None:
    router.add(
        "POST",
        WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)/getLogs",
        lambda r: get_logs(state, r),
    )
