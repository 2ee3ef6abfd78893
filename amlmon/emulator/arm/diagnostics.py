"""Diagnostic settings on any resource URI, with the validation Azure applies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.arm.common import (
    COMPONENT_LOG_CATEGORIES,
    ENDPOINT_LOG_CATEGORIES,
    MAX_DIAGNOSTIC_SETTINGS,
    not_found,
)
from amlmon.emulator.http import Request, Response, arm_error, json_response
from amlmon.emulator.resources import normalize_id

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


# --- diagnostic settings ---------------------------------------------------------------------------


def _resource_or_404(state: EmulatorState, uri: str) -> tuple[dict[str, Any] | None, Response | None]:
    body = state.resources.get(uri)
    return (body, None) if body is not None else (None, not_found(uri))


def list_settings(state: EmulatorState, request: Request) -> Response:
    uri = request.params["uri"]
    _, missing = _resource_or_404(state, uri)
    if missing is not None:
        return missing
    return json_response(200, {"value": list(state.diagnostic_settings.of(uri).values())})


def get_setting(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    found = state.diagnostic_settings.of(uri).get(name.lower())
    if found is None:
        return arm_error(404, "ResourceNotFound", f"The diagnostic setting '{name}' doesn't exist.")
    return json_response(200, found)


def delete_setting(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    removed = state.diagnostic_settings.remove(uri, name)
    return Response(200 if removed is not None else 204)


def _log_categories(target: dict[str, Any]) -> tuple[str, ...] | None:
    """The log categories a resource type offers (None: not modelled, anything goes)."""
    kind = str(target.get("type", "")).lower()
    if kind == "microsoft.insights/components":
        return COMPONENT_LOG_CATEGORIES
    if kind == "microsoft.machinelearningservices/workspaces/onlineendpoints":
        return ENDPOINT_LOG_CATEGORIES
    return None


def list_categories(state: EmulatorState, request: Request) -> Response:
    uri = request.params["uri"]
    target, missing = _resource_or_404(state, uri)
    if missing is not None or target is None:
        return missing or not_found(uri)
    prefix = normalize_id(uri) + "/providers/microsoft.insights/diagnosticSettingsCategories/"
    values = [
        {
            "id": prefix + name,
            "name": name,
            "type": "microsoft.insights/diagnosticSettingsCategories",
            "properties": {"categoryType": "Logs", "categoryGroups": ["allLogs"]},
        }
        for name in _log_categories(target) or COMPONENT_LOG_CATEGORIES
    ]
    values.append(
        {
            "id": prefix + "AllMetrics",
            "name": "AllMetrics",
            "type": "microsoft.insights/diagnosticSettingsCategories",
            "properties": {"categoryType": "Metrics", "categoryGroups": []},
        }
    )
    return json_response(200, {"value": values})


def put_setting(state: EmulatorState, request: Request) -> Response:
    uri, name = request.params["uri"], request.params["name"]
    target, missing = _resource_or_404(state, uri)
    if missing is not None or target is None:
        return missing or not_found(uri)
    body = request.json() or {}
    props = body.get("properties") or {}
    problem = _diag_problem(state, target, props)
    if problem is not None:
        return arm_error(400, "BadRequest", problem)
    existing = state.diagnostic_settings.of(uri)
    if name.lower() not in existing and len(existing) >= MAX_DIAGNOSTIC_SETTINGS:
        return arm_error(
            400,
            "BadRequest",
            f"Diagnostic settings does not support more than {MAX_DIAGNOSTIC_SETTINGS} diagnostic settings per resource.",
        )
    stored = {
        # As recorded: the resource part of the id comes back lower-cased.
        "id": f"{normalize_id(uri)}/providers/microsoft.insights/diagnosticSettings/{name}",
        "type": "Microsoft.Insights/diagnosticSettings",
        "name": name,
        "location": None,
        "kind": None,
        "tags": None,
        "properties": {
            "storageAccountId": props.get("storageAccountId"),
            "serviceBusRuleId": props.get("serviceBusRuleId"),
            "workspaceId": props.get("workspaceId"),
            "eventHubAuthorizationRuleId": props.get("eventHubAuthorizationRuleId"),
            "eventHubName": props.get("eventHubName"),
            "metrics": props.get("metrics") or [],
            "logs": [{"category": None, "categoryGroup": None, **entry} for entry in props.get("logs") or []],
            "logAnalyticsDestinationType": props.get("logAnalyticsDestinationType"),
        },
        "systemData": None,
        "identity": None,
    }
    state.diagnostic_settings.put(uri, stored, _enabled_categories(target, stored))
    return json_response(200, stored)


def _enabled_categories(target: dict[str, Any], setting: dict[str, Any]) -> list[str]:
    """The log categories a setting sends (a category group: every category the resource offers);
    the emulator notes when each began, as a setting exports only what is ingested after that."""
    offered = _log_categories(target) or COMPONENT_LOG_CATEGORIES
    names: list[str] = []
    for entry in (setting.get("properties") or {}).get("logs") or []:
        if not entry.get("enabled"):
            continue
        names.extend(offered if entry.get("categoryGroup") else [str(entry.get("category"))])
    return list(dict.fromkeys(names))


def _diag_problem(state: EmulatorState, target: dict[str, Any], props: dict[str, Any]) -> str | None:
    """Azure's validation of a diagnostic setting, as one message (None when valid)."""
    destinations = [
        props.get(k)
        for k in (
            "storageAccountId",
            "workspaceId",
            "eventHubAuthorizationRuleId",
            "serviceBusRuleId",
            "marketplacePartnerId",
        )
    ]
    if not any(destinations):
        return "At least one storage account, event hub, log analytics workspace or partner solution must be specified."
    is_component = str(target.get("type", "")).lower() == "microsoft.insights/components"
    offered = _log_categories(target)
    for entry in props.get("logs") or []:
        category = entry.get("category")
        group = entry.get("categoryGroup")
        if category and offered is not None and category not in offered:
            return f"Category '{category}' is not supported."
        if group and group not in ("allLogs", "audit"):
            return f"Category group '{group}' is not supported."
        if not category and not group:
            return "Each log setting needs a category or a categoryGroup."
    for entry in props.get("metrics") or []:
        if is_component and entry.get("category") not in ("AllMetrics", None):
            return f"Category '{entry.get('category')}' is not supported."
    storage_id = props.get("storageAccountId")
    if storage_id:
        if not _is_id_of(storage_id, "microsoft.storage/storageaccounts"):
            return f"The storage account resource ID '{storage_id}' is invalid."
        account = state.resources.get(storage_id)
        if account is None:
            return f"Resource '{storage_id}' was not found."
        if (
            str(account.get("location", "")).replace(" ", "").lower()
            != str(target.get("location", "")).replace(" ", "").lower()
        ):
            return (
                f"Storage account '{storage_id.rsplit('/', 1)[-1]}' must be in the same region as the resource "
                f"('{target.get('location')}'); it is in '{account.get('location')}'."
            )
    workspace_id = props.get("workspaceId")
    if workspace_id and not _is_id_of(workspace_id, "microsoft.operationalinsights/workspaces"):
        return f"The Log Analytics workspace resource ID '{workspace_id}' is invalid."
    if workspace_id and state.resources.get(workspace_id) is None:
        return f"Resource '{workspace_id}' was not found."
    return None


def _is_id_of(resource_id: str, resource_type: str) -> bool:
    """`/subscriptions/{s}/resourceGroups/{rg}/providers/{type}/{name}` with exactly that type."""
    parts = str(resource_id).strip("/").split("/")
    return (
        len(parts) == 8
        and str(resource_id).startswith("/")
        and [p.lower() for p in parts[0:6:2]] == ["subscriptions", "resourcegroups", "providers"]
        and f"{parts[5]}/{parts[6]}".lower() == resource_type
    )
