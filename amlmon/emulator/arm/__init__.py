"""Azure Resource Manager: AML workspaces, App Insights components, Log Analytics workspaces, storage
accounts, datastores, diagnostic settings on any resource, and v2 online endpoints/deployments with async LROs.

Shapes follow the recordings in ../shared/reference/azure-recordings: ARM's `{"error": {code, message}}`
envelope, `value` + `nextLink` paging, `Azure-AsyncOperation` (…/mfeOperationsStatus/…) for deployment
writes, answered 201 with the body already `Updating`.
"""

from __future__ import annotations

from collections.abc import Callable
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
    finish_due,
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


# A route: (method, path pattern, handler). Order matters: the first pattern that matches wins.
Route = tuple[str, str, Callable[[Request], Response]]


def register(router: Router, state: EmulatorState) -> None:
    # Diagnostic settings first: their paths nest under any other resource's path.
    for routes in (_diagnostic_routes, _operation_routes, _online_routes, _workspace_routes):
        for method, pattern, handler in routes(state):
            router.add(method, pattern, _versioned(state, handler))


def _versioned(state: EmulatorState, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """ARM's checks around every route: an api-version is required and must be one the cloud offers;
    the answer echoes the caller's correlation id."""

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
        response = handler(request)
        # ARM echoes the caller's correlation id (or makes one) on every answer.
        response.headers.setdefault(
            "x-ms-correlation-request-id", request.header("x-ms-correlation-request-id") or guid()
        )
        return response

    return wrapped


def _diagnostic_routes(state: EmulatorState) -> list[Route]:
    """Diagnostic settings of any resource, and the categories a resource type offers."""
    return [
        ("GET", DIAG + r"Categories", lambda r: list_categories(state, r)),
        ("GET", DIAG, lambda r: list_settings(state, r)),
        ("GET", DIAG + r"/(?P<name>[^/]+)", lambda r: get_setting(state, r)),
        ("PUT", DIAG + r"/(?P<name>[^/]+)", lambda r: put_setting(state, r)),
        ("DELETE", DIAG + r"/(?P<name>[^/]+)", lambda r: delete_setting(state, r)),
    ]


def _operation_routes(state: EmulatorState) -> list[Route]:
    """Status and result of the long-running operations of deployment writes."""
    location = (
        r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"
    )
    return [
        ("GET", location + r"/mfeOperationsStatus/(?P<op>[^/]+)", lambda r: operation_status(state, r)),
        ("GET", location + r"/mfeOperationResults/(?P<op>[^/]+)", lambda r: operation_result(state, r)),
    ]


def _online_routes(state: EmulatorState) -> list[Route]:
    """v2 online endpoints and their deployments, data asset versions and datastores."""
    endpoint = WS + r"/onlineEndpoints/(?P<ep>[^/]+)"
    dep = endpoint + r"/deployments/(?P<dep>[^/]+)"
    return [
        ("GET", WS + r"/onlineEndpoints", lambda r: _list_endpoints(state, r)),
        ("GET", endpoint + r"/deployments", lambda r: list_deployments(state, r)),
        ("GET", dep, lambda r: get_deployment(state, r)),
        ("PUT", dep, lambda r: put_deployment(state, r)),
        ("PATCH", dep, lambda r: patch_deployment(state, r)),
        ("DELETE", dep, lambda r: delete_deployment(state, r)),
        ("PUT", endpoint, lambda r: put_endpoint(state, r)),
        ("GET", endpoint, lambda r: _get_endpoint(state, r)),
        (
            "PUT",
            WS + r"/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
            lambda r: put_data_version(state, r),
        ),
        ("GET", WS + r"/datastores", lambda r: list_datastores(state, r)),
        ("GET", WS + r"/datastores/(?P<name>[^/]+)", lambda r: get_datastore(state, r)),
        ("PUT", WS + r"/datastores/(?P<name>[^/]+)", lambda r: put_datastore(state, r)),
        ("DELETE", WS + r"/datastores/(?P<name>[^/]+)", lambda r: delete_datastore(state, r)),
    ]


def _workspace_routes(state: EmulatorState) -> list[Route]:
    """Workspace lists, components' (retired) continuous export, and any other resource by id."""
    return [
        (
            "GET",
            SUB_RG + rf"/providers/{ML}/workspaces",
            lambda r: _list(state, r, r.path, f"{ML}/workspaces"),
        ),
        (
            "GET",
            rf"/subscriptions/(?P<sub>[^/]+)/providers/{ML}/workspaces",
            lambda r: _list(state, r, f"/subscriptions/{r.params['sub']}", f"{ML}/workspaces"),
        ),
        (
            "GET",
            SUB_RG + r"/providers/microsoft\.insights/components/(?P<name>[^/]+)/exportconfiguration",
            _no_exports,
        ),
        ("GET", SUB_RG + r"/providers/(?P<rest>.+)", lambda r: _get(state, r)),
    ]


def _get(state: EmulatorState, request: Request, view: Any = None) -> Response:
    body = state.resources.get(request.path)
    if body is None:
        return not_found(request.path)
    return json_response(200, view(state, body) if view else body)


def _get_endpoint(state: EmulatorState, request: Request) -> Response:
    # The endpoint's GET reports the state its operation has reached (Updating until due, then
    # Succeeded), as a deployment's GET does: Azure's resource and operation never disagree.
    finish_due(state)
    return _get(state, request, shown)


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
    finish_due(state)  # as the endpoint's own GET
    return _list(state, request, request.path.rstrip("/"), f"{ML}/workspaces/onlineEndpoints")


def _no_exports(request: Request) -> Response:
    # Classic continuous export is retired: existing components list no configurations.
    return json_response(200, [])
