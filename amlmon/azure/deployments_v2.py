"""v2 online endpoints and deployments through ARM (Microsoft.MachineLearningServices).

Changing `appInsightsEnabled` is a create-or-update: PUT of the whole deployment, answered with an
async operation (`Azure-AsyncOperation`), followed with azure-mgmt-core's ARMPolling. The body amlmon
sends is the body the service returned with only amlmon's fields changed — nothing dropped, nothing added.
Real ARM sends no ETag for deployments, so lost updates are guarded by reads: just before the PUT the
deployment is re-read and compared with the read the plan was made from (a difference is reported, nothing
written); after the operation it is re-read and every field is checked against what was written. When a
service does send an ETag, the PUT also carries If-Match.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlmon.azure import paths
from amlmon.azure.session import COMMAND_RETRY
from amlmon.errors import OperationFailed, Throttled

if TYPE_CHECKING:
    from amlmon.azure.arm import ArmClient

# GA 2024-04-01 is the first GA version whose model has properties.dataCollector (2023-04-01 and
# 2023-10-01 lack it and drop it on a read-modify-write); every read and write uses it.
API_VERSION = "2024-04-01"
# A newer preview, read once before a write: a field it shows that API_VERSION does not would be lost.
PROBE_API_VERSION = "2024-10-01-preview"
BUSY_STATES = ("Creating", "Updating", "Deleting", "Scaling")
# Per-request retry settings: fewer and shorter than azure-core's default, Retry-After always wins.
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


@dataclass(frozen=True)
class Scope:
    """What v2 calls go through: the ARM client and the workspace whose endpoints, deployments and
    data assets they read and write."""

    arm: ArmClient
    workspace_id: str


def endpoint_path(scope: Scope, endpoint: str) -> str:
    # Names here come from the service's own lists: encoded, not judged by amlmon's idea of the rule.
    return scope.workspace_id + paths.join("onlineEndpoints", endpoint)


def deployment_path(scope: Scope, endpoint: str, deployment: str) -> str:
    return endpoint_path(scope, endpoint) + paths.join("deployments", deployment)


def _send(
    scope: Scope, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    import json

    from azure.core.rest import HttpRequest

    from amlmon.azure.arm import raise_for_status

    full = url if url.startswith("http") else scope.arm.base_url + url
    all_headers = {"Accept": "application/json", **(headers or {})}
    content = None
    if body is not None:
        all_headers["Content-Type"] = "application/json"
        content = json.dumps(body)
    params = None if "api-version=" in full else {"api-version": API_VERSION}
    request = HttpRequest(method, full, params=params, headers=all_headers, content=content)
    pipeline_response = scope.arm.send_request(request, _return_pipeline_response=True, **COMMAND_RETRY)
    # 412 (ETag moved) and 409 (another operation running) on a write mean "re-read and re-plan".
    if method != "PUT" or pipeline_response.http_response.status_code not in (409, 412):
        raise_for_status(pipeline_response.http_response)
    return pipeline_response


def _list(scope: Scope, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        body = _send(scope, "GET", url).http_response.json()
        found.extend(body.get("value") or [])
        url = body.get("nextLink") or None
    return found


def list_endpoints(scope: Scope) -> list[dict[str, Any]]:
    return _list(scope, scope.workspace_id + paths.join("onlineEndpoints"))


def list_deployments(scope: Scope, endpoint: str) -> list[dict[str, Any]]:
    return _list(scope, endpoint_path(scope, endpoint) + paths.join("deployments"))


def get_deployment(scope: Scope, endpoint: str, name: str, api_version: str = API_VERSION) -> Deployment:
    url = deployment_path(scope, endpoint, name) + f"?api-version={api_version}"
    response = _send(scope, "GET", url).http_response
    body = response.json()
    etag = response.headers.get("ETag") or body.get("etag")
    return Deployment(endpoint, name, body, etag)


def with_app_insights(body: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """The body to PUT: exactly as returned, with only properties.appInsightsEnabled changed."""
    new = copy.deepcopy(body)
    new.setdefault("properties", {})["appInsightsEnabled"] = enabled
    return new


# Fields the service itself rewrites on every write: never a sign of someone else's change.
VOLATILE = (
    "etag",
    "systemData",
    "properties.provisioningState",
    "properties.properties.AzureAsyncOperationUri",
)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists and scalars are leaves (a list is compared whole)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value} if prefix else {}


def _volatile(path: str) -> bool:
    return any(path == v or path.startswith(v + ".") for v in VOLATILE)


def _covered(path: str, changed: Sequence[str]) -> bool:
    return any(path == c or path.startswith(c + ".") or c.startswith(path + ".") for c in changed)


ABSENT = object()


def differences(
    expected: dict[str, Any], actual: dict[str, Any], *, skip: Sequence[str] = ()
) -> list[tuple[str, Any, Any]]:
    """(field, expected, actual) for every non-volatile leaf that differs, skipping fields in `skip`."""
    want, have = flatten(expected), flatten(actual)
    found = []
    for path in sorted(set(want) | set(have)):
        if _volatile(path) or _covered(path, skip):
            continue
        old, new = want.get(path, ABSENT), have.get(path, ABSENT)
        if old != new and not (_unset(old) and _unset(new)):
            found.append((path, old, new))
    return found


def _unset(value: Any) -> bool:
    """ARM sends optional fields nobody set as null; absent and null mean the same."""
    return value is ABSENT or value is None or value == {}


def describe(diffs: Sequence[tuple[str, Any, Any]], first: str, second: str, limit: int = 8) -> str:
    import json

    def show(value: Any) -> str:
        return "(absent)" if value is ABSENT else json.dumps(value, ensure_ascii=False)

    parts = [f"{path}: {first} {show(a)}, {second} {show(b)}" for path, a, b in diffs[:limit]]
    more = f" (and {len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "; ".join(parts) + more


def write(
    scope: Scope,
    planned: Deployment,
    body: dict[str, Any],
    *,
    wait: bool,
    reread: Callable[[], Deployment],
) -> Written | None:
    """PUT `body` (the planned read with amlmon's changes), unless the deployment changed since the plan.

    None when a fresh read already holds what amlmon would write (someone else made the same change):
    nothing is sent.

    With an ETag the PUT carries If-Match. Without one (what real ARM sends for deployments) the
    deployment is re-read just before the PUT and compared with the read the plan was made from.
    A 409/412 answer means re-read and compare again: the same → retry; different → report.
    """
    for _ in range(MAX_WRITE_ATTEMPTS):
        headers: dict[str, str] = {}
        if planned.etag:
            headers["If-Match"] = planned.etag
        else:
            fresh = reread()
            if not differences(body, fresh.body):
                return None
            _same_as_planned(planned, fresh)
        response = _send(scope, "PUT", deployment_path(scope, planned.endpoint, planned.name), body, headers)
        if response.http_response.status_code not in (409, 412):
            return Written(_operation_id(response.http_response), _poller(scope, response) if wait else None)
        fresh = reread()
        if not differences(body, fresh.body):
            return None
        _same_as_planned(planned, fresh)
        planned = Deployment(planned.endpoint, planned.name, planned.body, fresh.etag)
    raise OperationFailed(
        f"deployment {planned.endpoint}/{planned.name} kept refusing the update (409/412)",
        hint="try again when no other operation is running on it",
    )


def _same_as_planned(planned: Deployment, fresh: Deployment) -> None:
    diffs = differences(planned.body, fresh.body)
    if diffs:
        raise OperationFailed(
            f"deployment {planned.endpoint}/{planned.name} was changed by someone else after amlmon read it; "
            f"nothing was written: {describe(diffs, 'read', 'now')}",
            hint="run the command again to plan from the current deployment",
        )


def verify(scope: Scope, endpoint: str, name: str, sent: dict[str, Any], changed: Sequence[str]) -> None:
    """After the operation: every field amlmon did not change is as read, each changed one as written."""
    after = get_deployment(scope, endpoint, name).body
    others = [
        (path, old, new)
        for path, old, new in differences(sent, after, skip=changed)
        if not (_unset(old) and _beside(path, changed))
    ]
    mine = [
        (path, old, new)
        for path, old, new in differences(sent, after)
        if _covered(path, changed) and not _same_text(old, new)
    ]
    if others or mine:
        raise OperationFailed(
            f"deployment {endpoint}/{name} after the update differs from what amlmon wrote "
            f"(a concurrent change, or the service dropped a field): {describe(others + mine, 'wrote', 'now')}",
            hint="check the deployment; amlmon did not write again",
        )


def _beside(path: str, changed: Sequence[str]) -> bool:
    """A field next to one amlmon set (e.g. a default the service fills in a collection amlmon created)."""
    parent = path.rsplit(".", 1)[0]
    return any(c.rsplit(".", 1)[0] == parent for c in changed)


def _same_text(a: Any, b: Any) -> bool:
    """Modes come back in either case (`enabled` sent, `Enabled` returned)."""
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def _operation_id(response: Any) -> str | None:
    url = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
    if not url:
        return None
    return str(url).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _poller(scope: Scope, initial: Any) -> Any:
    from azure.core.polling import LROPoller
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    status = initial.http_response.status_code
    has_operation = initial.http_response.headers.get(
        "Azure-AsyncOperation"
    ) or initial.http_response.headers.get("Location")
    if status == 200 and not has_operation:
        return None  # done synchronously
    polling = ARMPolling(timeout=5, **COMMAND_RETRY)
    return LROPoller(scope.arm.pipeline_client, initial, lambda pipeline_response: pipeline_response, polling)


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
    scope: Scope, current: Deployment, *, deadline: float, stop: Callable[[], bool]
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
        current = get_deployment(scope, current.endpoint, current.name)
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


# --- data assets (one per collection, as the SDK registers them) ---------------------------------


def data_asset_id(scope: Scope, name: str, version: str = "1") -> str:
    return f"{scope.workspace_id}/data/{paths.segment(name)}/versions/{paths.segment(version)}"


def data_asset_exists(scope: Scope, asset_id: str) -> bool:
    from amlmon.azure.arm import raise_for_status

    response = scope.arm.request("GET", asset_id, API_VERSION)
    if response.status_code == 404:
        return False
    raise_for_status(response)
    return True


def ensure_data_asset(scope: Scope, asset_id: str, data_uri: str) -> bool:
    """Create the uri_folder asset unless it exists (then it is reused as is); True when created."""
    from amlmon.azure.arm import raise_for_status

    if data_asset_exists(scope, asset_id):
        return False
    body = {"properties": {"dataType": "uri_folder", "dataUri": data_uri, "isAnonymous": False}}
    raise_for_status(scope.arm.request("PUT", asset_id, API_VERSION, body=body))
    return True
