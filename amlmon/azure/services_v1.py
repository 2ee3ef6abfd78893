"""v1 web services (ACI / AKS) through the model-management API.

The workspace's discovery document names the regional model-management host; under it every call is
`/modelmanagement/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/
workspaces/{ws}/…`. Updates are JSON-patch lists answered 202 with an `Operation-Location`; errors are a
flat `{code, statusCode, message, details}` body (not ARM's `{"error": …}`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from amlmon.azure import paths
from amlmon.azure.session import COMMAND_RETRY
from amlmon.errors import AmlmonError, ConfigError, OperationFailed, Throttled
from amlmon.redact import redact

if TYPE_CHECKING:
    from amlmon.azure.session import Session
    from amlmon.azure.workspaces import WorkspaceInfo

# A JSON-patch `replace` with absolute values is idempotent, so a PATCH whose answer was lost may be re-sent.
_RETRY_METHODS = frozenset(["HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"])
FINAL_OPERATION_STATES = ("Succeeded", "Failed", "Cancelled", "TimedOut")
DEFAULT_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Submitted:
    """A PATCH the service accepted: the operation to follow (None when it answered synchronously)."""

    operation_id: str | None
    operation_url: str | None


class ModelManagementClient:
    """One workspace's model-management API, over an azure-core pipeline with the ARM bearer token."""

    def __init__(self, session: Session, info: WorkspaceInfo) -> None:
        self.base_url = _model_management_base(
            session, info.discovery_url, info.subscription, info.resource_group, info.name
        )
        self._client = session.pipeline(self.base_url, auth="bearer", retry=COMMAND_RETRY)

    # --- reads ------------------------------------------------------------------------------
    def list_services(self, compute_type: str | None = None) -> list[dict[str, Any]]:
        """Every service (all pages), expanded."""
        params = {"expand": "true"}
        if compute_type:
            params["computeType"] = compute_type
        url: str | None = self.base_url + "/services"
        found: list[dict[str, Any]] = []
        first = True
        while url:
            body = self._json("GET", url, params=params if first else None)
            first = False
            found.extend(body.get("value") or [])
            url = body.get("nextLink") or None
        return found

    def get_service(self, name: str) -> dict[str, Any]:
        return self._json("GET", self.base_url + paths.join("services", name), params={"expand": "true"})

    def get_operation(self, operation: str) -> tuple[dict[str, Any], float | None]:
        """The operation's status body and the Retry-After the service asked for (seconds)."""
        url = (
            operation if operation.startswith("http") else self.base_url + paths.join("operations", operation)
        )
        response = self._send("GET", url)
        return _body(response), _retry_after(response)

    # --- writes -----------------------------------------------------------------------------
    def patch_service(self, name: str, patch: list[dict[str, Any]]) -> Submitted:
        response = self._send(
            "PATCH",
            self.base_url + paths.join("services", name),
            body=patch,
            content_type="application/json-patch+json",
            retry_on_methods=_RETRY_METHODS,
        )
        location = response.headers.get("Operation-Location")
        body = _body(response) if response.text() else {}
        operation_id = body.get("operationId") if isinstance(body, dict) else None
        if location:
            location = urljoin(self.base_url + "/", location)  # the header may be a path
            operation_id = operation_id_of(location)
        if not operation_id:
            return Submitted(None, None)
        return Submitted(operation_id, location or f"{self.base_url}/operations/{operation_id}")

    def wait_operation(
        self,
        operation: str,
        *,
        deadline: float,
        stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        """Poll until the operation ends (honouring Retry-After); the final status body.

        Throttled when `deadline` (time.monotonic) passes first; StopWaiting as soon as `stop()` is true.
        """
        while True:
            status, retry_after = self.get_operation(operation)
            if str(status.get("state")) in FINAL_OPERATION_STATES:
                return status
            delay = retry_after if retry_after is not None else DEFAULT_POLL_SECONDS
            if not sleep_until(min(time.monotonic() + delay, deadline), stop):
                raise StopWaiting()
            if time.monotonic() >= deadline:
                raise Throttled(
                    f"operation {operation_id_of(operation)} still {status.get('state', 'running')} at the timeout",
                    hint="it continues server-side; check later with `amlmon diagnostics status`, or raise --timeout",
                )

    # --- plumbing ---------------------------------------------------------------------------
    def _json(self, method: str, url: str, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        return _body(self._send(method, url, params=params))

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        **options: Any,
    ) -> Any:
        import json

        from azure.core.rest import HttpRequest

        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = content_type
            content = json.dumps(body)
        request = HttpRequest(method, url, params=params, headers=headers, content=content)
        response = self._client.send_request(request, **options)
        if response.status_code >= 400:
            raise model_management_error(response)
        return response

    def close(self) -> None:
        self._client.close()


class StopWaiting(Exception):
    """The caller asked to stop waiting (Ctrl-C elsewhere); the operation goes on server-side."""


def operation_id_of(operation: str) -> str:
    return operation.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def sleep_until(until: float, stop: Callable[[], bool]) -> bool:
    """Sleep until `until` (time.monotonic) in short steps; False as soon as `stop()` says so."""
    while True:
        if stop():
            return False
        left = until - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.1))


def model_management_error(response: Any) -> AmlmonError:
    """The flat model-management error body → an amlmon error with the service's code and message."""
    from amlmon.azure.errors import error_fields, response_json
    from amlmon.azure.session import status_error

    status = response.status_code
    # Flat, or ARM-style when a gateway answers.
    code, message = error_fields(response_json(response))
    text = redact(str(message or response.reason or f"HTTP {status}").strip().splitlines()[0])
    return status_error(
        status,
        f"{code}: {text}" if code else text,
        service="model-management API",
        not_found_hint="check the service name (`amlmon services list`)",
        forbidden_hint="ask for a role assignment on the workspace",
        server_hint="retry later",
    )


def _body(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except Exception:
        raise OperationFailed(
            f"model-management API answered HTTP {response.status_code} with a body that is not JSON"
        ) from None
    return body if isinstance(body, dict) else {"value": body}


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _model_management_base(session: Session, discovery_url: str | None, sub: str, rg: str, ws: str) -> str:
    if not discovery_url:
        raise ConfigError(
            f"workspace {ws!r} has no discovery URL, so its v1 model-management API cannot be found",
            hint="v1 ACI/AKS services need a workspace created by Azure ML; v2 deployments are unaffected",
        )
    client = session.pipeline(discovery_url, auth=None, retry=COMMAND_RETRY)
    try:
        from azure.core.rest import HttpRequest

        response = client.send_request(
            HttpRequest("GET", discovery_url, headers={"Accept": "application/json"})
        )
        if response.status_code >= 400:
            raise model_management_error(response)
        document = response.json()
    finally:
        client.close()
    host = document.get("modelmanagement") if isinstance(document, dict) else None
    if not host:
        raise OperationFailed(
            f"the workspace's discovery document ({discovery_url}) names no model-management service",
        )
    from amlmon.azure.paths import workspace_path

    return f"{str(host).rstrip('/')}/modelmanagement/v1.0{workspace_path(sub, rg, ws)}"
