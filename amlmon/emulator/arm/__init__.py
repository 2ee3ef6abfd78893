"""Azure Resource Manager: AML workspaces, App Insights components, Log Analytics workspaces, storage
accounts, datastores, diagnostic settings on any resource, and v2 online endpoints/deployments with async LROs.

Shapes follow the recordings in ../shared/reference/azure-recordings: ARM's `{"error": {code, message}}`
envelope, `value` + `nextLink` paging, `Azure-AsyncOperation` (…/mfeOperationsStatus/…) for deployment
writes, answered 201 with the body already `Updating`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm.common import DIAG, ML, SUB_RG, WS, guid, not_found, paged
from amlmon.emulator.arm.create import create_workspace_resources
from amlmon.emulator.arm.datastores import (
    delete_datastore,
    get_datastore,
    list_datastores,
    put_datastore,
)
from amlmon.emulator.arm.deployments import (
    delete_deployment,
    get_deployment,
    list_deployments,
    operation_result,
    operation_status,
    patch_deployment,
    put_data_version,
    put_deployment,
    put_endpoint,
    shown,
)
from amlmon.emulator.arm.diagnostics import (
    delete_setting,
    get_setting,
    list_categories,
    list_settings,
    put_setting,
)
from amlmon.emulator.http import Request, Response, Router, arm_error, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

__all__ = ["create_workspace_resources", "register"]


def register(router: Router, state: EmulatorState) -> None:

    def needs_version(handler: Any) -> Any:
        def wrapped(request: Request) -> Response:
            if not request.q("api-version"):
                return arm_error(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            withheld = state.settings.get("unsupportedApiVersions")
            if isinstance(withheld, list) and request.q("api-version") in withheld:
                # A cloud that does not offer that version answers like this (ARM's code and wording).
                return arm_error(
                    400,
                    "NoRegisteredProviderFound",
                    f"No registered resource provider found for API version '{request.q('api-version')}'.",
                )
            response: Response = handler(request)
            # ARM echoes the caller's correlation id (or makes one) on every answer.
            response.headers.setdefault(
                "x-ms-correlation-request-id", request.header("x-ms-correlation-request-id") or guid()
            )
            return response

        return wrapped

    def add(method: str, pattern: str, handler: Any) -> None:
        router.add(method, pattern, needs_version(handler))

    # Diagnostic settings first: their paths nest under any other resource's path.
    add("GET", DIAG + r"Categories", lambda r: list_categories(state, r))
    add("GET", DIAG, lambda r: list_settings(state, r))
    add("GET", DIAG + r"/(?P<name>[^/]+)", lambda r: get_setting(state, r))
    add("PUT", DIAG + r"/(?P<name>[^/]+)", lambda r: put_setting(state, r))
    add("DELETE", DIAG + r"/(?P<name>[^/]+)", lambda r: delete_setting(state, r))

    add(
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"
        r"/mfeOperationsStatus/(?P<op>[^/]+)",
        lambda r: operation_status(state, r),
    )
    add(
        "GET",
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"
        r"/mfeOperationResults/(?P<op>[^/]+)",
        lambda r: operation_result(state, r),
    )
    add("GET", WS + r"/onlineEndpoints", lambda r: _list_endpoints(state, r))
    add(
        "GET",
        WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments",
        lambda r: list_deployments(state, r),
    )
    dep = WS + r"/onlineEndpoints/(?P<ep>[^/]+)/deployments/(?P<dep>[^/]+)"
    add("GET", dep, lambda r: get_deployment(state, r))
    add("PUT", dep, lambda r: put_deployment(state, r))
    add("PATCH", dep, lambda r: patch_deployment(state, r))
    add("DELETE", dep, lambda r: delete_deployment(state, r))
    add("PUT", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", lambda r: put_endpoint(state, r))
    add("GET", WS + r"/onlineEndpoints/(?P<ep>[^/]+)", lambda r: _get(state, r, shown))
    add(
        "PUT",
        WS + r"/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
        lambda r: put_data_version(state, r),
    )
    add("GET", WS + r"/datastores", lambda r: list_datastores(state, r))
    add("GET", WS + r"/datastores/(?P<name>[^/]+)", lambda r: get_datastore(state, r))
    add("PUT", WS + r"/datastores/(?P<name>[^/]+)", lambda r: put_datastore(state, r))
    add("DELETE", WS + r"/datastores/(?P<name>[^/]+)", lambda r: delete_datastore(state, r))
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


def _get(state: EmulatorState, request: Request, view: Any = None) -> Response:
    body = state.resources.get(request.path)
    if body is None:
        return not_found(request.path)
    return json_response(200, view(state, body) if view else body)


def _list(state: EmulatorState, request: Request, prefix: str, type_: str) -> Response:
    """Resources of `type_` whose IDs lie under `prefix` (the collection's own path, never its parent's)."""
    found = state.resources.list(prefix=prefix, type=type_)
    if type_.endswith("/onlineEndpoints"):
        found = [shown(state, body) for body in found]
    return paged(state, request, found)


def _list_endpoints(state: EmulatorState, request: Request) -> Response:
    """The online endpoints of this one workspace; ARM answers 404 when the workspace does not exist."""
    workspace_id = request.path.rstrip("/").rsplit("/", 1)[0]
    if state.resources.get(workspace_id) is None:
        return not_found(workspace_id)
    return _list(state, request, request.path.rstrip("/"), f"{ML}/workspaces/onlineEndpoints")


def _no_exports(request: Request) -> Response:
    # Classic continuous export is retired: existing components list no configurations.
    return json_response(200, [])
