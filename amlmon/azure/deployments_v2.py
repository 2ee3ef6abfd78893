"""v2 online endpoints and deployments through ARM (Microsoft.MachineLearningServices).

Changing `appInsightsEnabled` is a create-or-update: PUT of the whole deployment, answered with an
async operation (`Azure-AsyncOperation`), followed with azure-mgmt-core's ARMPolling. The body amlmon
sends is the body the service returned with that one field changed — nothing dropped, nothing added.
Lost updates are prevented with `If-Match: <etag>`; without an ETag the resource is re-read just before
the write and the write is re-planned when it changed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.azure import paths
from amlmon.errors import OperationFailed, Throttled

if TYPE_CHECKING:
    from amlmon.context import AppContext

API_VERSION = "2024-04-01"
BUSY_STATES = ("Creating", "Updating", "Deleting", "Scaling")
# Per-request retry settings: fewer and shorter than azure-core's default, Retry-After always wins.
RETRY: dict[str, Any] = {"retry_total": 4, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}
MAX_WRITE_ATTEMPTS = 4


@dataclass
class Deployment:
    endpoint: str
    name: str
    body: dict[str, Any]
    etag: str | None

    @property
    def properties(self) -> dict[str, Any]:
        props = self.body.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def app_insights(self) -> bool:
        return bool(self.properties.get("appInsightsEnabled"))

    @property
    def state(self) -> str:
        return str(self.properties.get("provisioningState") or "")


@dataclass
class Written:
    """The accepted write: the async operation to follow and the poller (None with --no-wait)."""

    operation_id: str | None
    poller: Any


class ConcurrentChange(Exception):
    pass


def _workspace_path(ctx: AppContext) -> str:
    return str(ctx.workspace.resource_id)


def endpoint_path(ctx: AppContext, endpoint: str) -> str:
    # Names here come from the service's own lists: encoded, not judged by amlmon's idea of the rule.
    return _workspace_path(ctx) + paths.join("onlineEndpoints", endpoint)


def deployment_path(ctx: AppContext, endpoint: str, deployment: str) -> str:
    return endpoint_path(ctx, endpoint) + paths.join("deployments", deployment)


def _send(
    ctx: AppContext, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    import json

    from azure.core.rest import HttpRequest

    from amlmon.azure.arm import raise_for_status

    full = url if url.startswith("http") else ctx.arm.base_url + url
    all_headers = {"Accept": "application/json", **(headers or {})}
    content = None
    if body is not None:
        all_headers["Content-Type"] = "application/json"
        content = json.dumps(body)
    params = None if "api-version=" in full else {"api-version": API_VERSION}
    request = HttpRequest(method, full, params=params, headers=all_headers, content=content)
    pipeline_response = ctx.arm.send_request(request, _return_pipeline_response=True, **RETRY)
    # 412 (ETag moved) and 409 (another operation running) on a write mean "re-read and re-plan".
    if method != "PUT" or pipeline_response.http_response.status_code not in (409, 412):
        raise_for_status(pipeline_response.http_response)
    return pipeline_response


def _list(ctx: AppContext, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        body = _send(ctx, "GET", url).http_response.json()
        found.extend(body.get("value") or [])
        url = body.get("nextLink") or None
    return found


def list_endpoints(ctx: AppContext) -> list[dict[str, Any]]:
    return _list(ctx, _workspace_path(ctx) + paths.join("onlineEndpoints"))


def list_deployments(ctx: AppContext, endpoint: str) -> list[dict[str, Any]]:
    return _list(ctx, endpoint_path(ctx, endpoint) + paths.join("deployments"))


def get_deployment(ctx: AppContext, endpoint: str, name: str) -> Deployment:
    response = _send(ctx, "GET", deployment_path(ctx, endpoint, name)).http_response
    body = response.json()
    etag = response.headers.get("ETag") or body.get("etag")
    return Deployment(endpoint, name, body, etag)


def with_app_insights(body: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """The body to PUT: exactly as returned, with only properties.appInsightsEnabled changed."""
    new = copy.deepcopy(body)
    new.setdefault("properties", {})["appInsightsEnabled"] = enabled
    return new


def set_app_insights(
    ctx: AppContext,
    current: Deployment,
    enabled: bool,
    *,
    wait: bool,
    reread: Callable[[], Deployment],
) -> tuple[Deployment, Written | None]:
    """Write the change (re-reading on a concurrent change); (deployment written from, written or None).

    Returns written None when a re-read shows the deployment already in the wanted state.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        if current.app_insights == enabled:
            return current, None
        try:
            return current, _put(ctx, current, enabled, wait=wait, reread=reread)
        except ConcurrentChange:
            current = reread()
    raise OperationFailed(
        f"deployment {current.endpoint}/{current.name} kept changing while amlmon tried to update it",
        hint="try again when nobody else is changing it",
    )


def _put(
    ctx: AppContext, current: Deployment, enabled: bool, *, wait: bool, reread: Callable[[], Deployment]
) -> Written:
    headers: dict[str, str] = {}
    if current.etag:
        headers["If-Match"] = current.etag
    else:
        # No ETag to guard with: compare with a fresh read right before writing.
        fresh = reread()
        if fresh.body != current.body:
            raise ConcurrentChange()
    body = with_app_insights(current.body, enabled)
    response = _send(ctx, "PUT", deployment_path(ctx, current.endpoint, current.name), body, headers)
    if response.http_response.status_code in (409, 412):
        raise ConcurrentChange()
    return Written(_operation_id(response.http_response), _poller(ctx, response) if wait else None)


def _operation_id(response: Any) -> str | None:
    url = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
    if not url:
        return None
    return str(url).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _poller(ctx: AppContext, initial: Any) -> Any:
    from azure.core.polling import LROPoller
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    status = initial.http_response.status_code
    has_operation = initial.http_response.headers.get(
        "Azure-AsyncOperation"
    ) or initial.http_response.headers.get("Location")
    if status == 200 and not has_operation:
        return None  # done synchronously
    polling = ARMPolling(timeout=5, **RETRY)
    return LROPoller(ctx.arm.pipeline_client, initial, lambda pipeline_response: pipeline_response, polling)


def wait_written(written: Written, *, deadline: float, stop: Callable[[], bool]) -> None:
    """Follow the LRO until it ends; raise the service's error when it failed."""
    from azure.core.exceptions import HttpResponseError

    from amlmon.azure.services_v1 import StopWaiting

    poller = written.poller
    if poller is None:
        return
    while not poller.done():
        if stop():
            raise StopWaiting()
        if time.monotonic() >= deadline:
            raise Throttled(
                f"operation {written.operation_id} still running at the timeout",
                hint="it continues server-side; check later with `amlmon diagnostics status`, or raise --timeout",
            )
        poller.wait(timeout=0.1)
    try:
        poller.result()
    except HttpResponseError as exc:
        raise OperationFailed(f"the deployment update failed: {_operation_error(exc)}") from None


def wait_not_busy(
    ctx: AppContext, current: Deployment, *, deadline: float, stop: Callable[[], bool]
) -> Deployment:
    """Re-read until the deployment is no longer being created/updated."""
    from amlmon.azure.services_v1 import StopWaiting, sleep_until

    delay = 1.0
    while current.state in BUSY_STATES:
        if time.monotonic() >= deadline:
            raise Throttled(
                f"deployment {current.endpoint}/{current.name} is still {current.state} at the timeout",
                hint="raise --timeout, or try again later",
            )
        if not sleep_until(min(time.monotonic() + delay, deadline), stop):
            raise StopWaiting()
        delay = min(delay * 1.5, 5.0)
        current = get_deployment(ctx, current.endpoint, current.name)
    return current


def _operation_error(exc: Any) -> str:
    from amlmon.azure.errors import _service_error, response_json

    body = response_json(getattr(exc, "response", None))
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        if error and error.get("message"):
            return f"{error.get('code') or 'Failed'}: {error['message']}"
        if body.get("status"):
            return f"operation {body.get('status')}"

    code, message = _service_error(exc)
    return f"{code}: {message}" if code else message
