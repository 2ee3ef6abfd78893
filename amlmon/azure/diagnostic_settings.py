"""Diagnostic settings on the workspace's App Insights component: the replacement for continuous export.

azure-mgmt-monitor 7 no longer models diagnostic settings, so they go through the shared ARM pipeline
(same credential, retries and challenge handling) at api-version 2021-05-01-preview. Classic
continuous export configurations are read with azure-mgmt-applicationinsights, only to flag them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlmon.azure import paths
from amlmon.errors import NotFound, OperationFailed, UsageError
from amlmon.redact import redact

if TYPE_CHECKING:
    from amlmon.azure.arm import ArmClient

DIAGNOSTIC_API = "2021-05-01-preview"
STORAGE_API = "2023-01-01"
COMPONENT_API = "2020-02-02"
AMLMON_PREFIX = "amlmon"
DEFAULT_NAME = "amlmon-export"
MAX_SETTINGS = 5

# Log categories of a workspace-based Application Insights component (one per App* table).
COMPONENT_CATEGORIES = (
    "AppAvailabilityResults",
    "AppBrowserTimings",
    "AppDependencies",
    "AppEvents",
    "AppExceptions",
    "AppMetrics",
    "AppPageViews",
    "AppPerformanceCounters",
    "AppRequests",
    "AppSystemEvents",
    "AppTraces",
)
DEFAULT_CATEGORIES = ("AppTraces", "AppRequests", "AppDependencies", "AppExceptions")


def parse_categories(text: str | None) -> list[str]:
    """`AppTraces,AppRequests` (any case) or `all` → canonical category names; None (no --tables) → the
    defaults. An empty `--tables ""` (an unset variable in a script) is refused, not taken as the defaults."""
    if text is None:
        return list(DEFAULT_CATEGORIES)
    by_lower = {c.lower(): c for c in COMPONENT_CATEGORIES}
    chosen: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.lower() == "all":
            return list(COMPONENT_CATEGORIES)
        canonical = by_lower.get(item.lower())
        if canonical is None:
            raise UsageError(
                f"{item!r} is not a table Application Insights can export",
                hint="use any of " + ", ".join(COMPONENT_CATEGORIES) + " or all",
            )
        if canonical not in chosen:
            chosen.append(canonical)
    if not chosen:
        raise UsageError("--tables is empty", hint="e.g. --tables AppTraces,AppRequests or --tables all")
    return chosen


def is_amlmon_setting(name: str) -> bool:
    """amlmon names what it creates `amlmon…`; diagnostic settings carry no tags to mark them otherwise."""
    return name.lower().startswith(AMLMON_PREFIX)


@dataclass
class Destinations:
    storage_account_id: str | None = None
    workspace_id: str | None = None
    event_hub_rule_id: str | None = None
    event_hub_name: str | None = None

    def any(self) -> bool:
        return bool(self.storage_account_id or self.workspace_id or self.event_hub_rule_id)


@dataclass
class Setting:
    name: str
    id: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        logs = self.properties.get("logs") or []
        enabled = [str(log.get("category") or log.get("categoryGroup")) for log in logs if log.get("enabled")]
        return sorted(enabled, key=str.lower)

    @property
    def storage_account_id(self) -> str | None:
        return self.properties.get("storageAccountId") or None

    def to_dict(self) -> dict[str, Any]:
        props = self.properties
        return {
            "name": self.name,
            "createdByAmlmon": is_amlmon_setting(self.name),
            "categories": self.categories,
            "storageAccountId": props.get("storageAccountId"),
            "workspaceId": props.get("workspaceId"),
            "eventHubAuthorizationRuleId": props.get("eventHubAuthorizationRuleId"),
            "eventHubName": props.get("eventHubName"),
            "id": self.id,
        }


def _setting(body: dict[str, Any]) -> Setting:
    return Setting(str(body.get("name")), str(body.get("id")), dict(body.get("properties") or {}))


def check_name(name: str) -> str:
    """A diagnostic setting name Azure accepts (exit 2 with the rule otherwise): it is a URL segment."""
    return paths.DIAGNOSTIC_SETTING.check(name, "--name")


def _path(resource_id: str, name: str | None = None) -> str:
    base = paths.resource_path(resource_id, option="the resource's ID") + paths.join(
        "providers", "Microsoft.Insights", "diagnosticSettings"
    )
    return base if name is None else base + paths.join(check_name(name))


def list_settings(arm: ArmClient, resource_id: str) -> list[Setting]:
    from amlmon.azure.arm import raise_for_status

    response = arm.request("GET", _path(resource_id), DIAGNOSTIC_API)
    raise_for_status(response)
    return [_setting(item) for item in (response.json().get("value") or [])]


def get_setting(arm: ArmClient, resource_id: str, name: str) -> Setting | None:
    from amlmon.azure.arm import raise_for_status

    response = arm.request("GET", _path(resource_id, name), DIAGNOSTIC_API)
    if response.status_code == 404:
        return None
    raise_for_status(response)
    return _setting(response.json())


def put_setting(arm: ArmClient, resource_id: str, name: str, properties: dict[str, Any]) -> Setting:
    response = arm.request("PUT", _path(resource_id, name), DIAGNOSTIC_API, body={"properties": properties})
    if response.status_code >= 400:
        raise _rejected(response, name)
    return _setting(response.json())


def delete_setting(arm: ArmClient, resource_id: str, name: str) -> bool:
    from amlmon.azure.arm import raise_for_status

    response = arm.request("DELETE", _path(resource_id, name), DIAGNOSTIC_API)
    if response.status_code == 404:
        return False
    raise_for_status(response)
    return response.status_code != 204


def _rejected(response: Any, name: str) -> Exception:
    """Azure's refusal as one line that says what to do (limit, region, category, duplicate sink)."""
    try:
        error = response.json().get("error") or {}
    except Exception:
        error = {}
    code = str(error.get("code") or f"HTTP {response.status_code}")
    message = redact(str(error.get("message") or "").strip().splitlines()[0] if error.get("message") else "")
    lower = message.lower()
    if response.status_code in (401, 403):
        from amlmon.errors import AuthError

        return AuthError(
            f"not allowed to write diagnostic setting {name!r}: {message}",
            hint="ask for the Monitoring Contributor role",
        )
    if "more than" in lower or "maximum" in lower or "limit" in lower:
        return OperationFailed(
            f"Azure refused: the component already has {MAX_SETTINGS} diagnostic settings, the most a resource may have ({message})",
            hint="remove one (`amlmon export show` lists them, `amlmon export disable --name NAME`), "
            "or reuse one with --name NAME --force",
        )
    if "region" in lower or "location" in lower:
        return UsageError(
            f"Azure refused: {message}",
            hint="a storage account or Event Hub destination must be in the component's region: pick or create one there",
        )
    if "already" in lower and ("sink" in lower or "used" in lower):
        return UsageError(
            f"Azure refused: {message}",
            hint="another diagnostic setting already sends these tables there; `amlmon export show` names it",
        )
    if "categor" in lower:
        return UsageError(f"Azure refused: {message}", hint="choose tables the component supports (--tables)")
    if response.status_code == 404:
        return NotFound(f"{code}: {message}", hint="check the destination resource IDs")
    return OperationFailed(
        f"Azure refused diagnostic setting {name!r}: {code}: {message} (HTTP {response.status_code})"
    )


@dataclass(frozen=True)
class StorageAccount:
    id: str
    name: str
    location: str | None
    blob_endpoint: str | None


def resolve_storage_account(arm: ArmClient, resource_group_id: str, name_or_id: str) -> StorageAccount:
    """A storage account by full resource ID, or by name in the resource group (the workspace's)."""
    from azure.core.exceptions import ResourceNotFoundError

    resource_id = storage_account_path(resource_group_id, name_or_id)
    try:
        body = arm.get_json(resource_id, STORAGE_API)
    except ResourceNotFoundError:
        raise NotFound(
            f"storage account {name_or_id!r} not found"
            + ("" if name_or_id.startswith("/") else " in the workspace's resource group"),
            hint="pass its full resource ID with --storage-account, or create it (`az storage account create`)",
        ) from None
    props = body.get("properties") or {}
    endpoints = props.get("primaryEndpoints") or {}
    return StorageAccount(
        id=str(body.get("id") or resource_id),
        name=str(body.get("name") or resource_id.rsplit("/", 1)[-1]),
        location=body.get("location"),
        blob_endpoint=endpoints.get("blob"),
    )


STORAGE_TYPE = "Microsoft.Storage/storageAccounts"


def check_storage_account(name_or_id: str, option: str = "--storage-account") -> None:
    """A storage account name or resource ID Azure could accept (exit 2 with the rule otherwise)."""
    if name_or_id.startswith("/"):
        paths.parse_resource_id(name_or_id, option=option, expect_type=STORAGE_TYPE, strict=True)
    else:
        paths.STORAGE_ACCOUNT.check(name_or_id, option)


def storage_account_path(resource_group_id: str, name_or_id: str, option: str = "--storage-account") -> str:
    """The ARM path of a storage account given by resource ID, or by name in the resource group
    `/subscriptions/{sub}/resourceGroups/{rg}` (the workspace's)."""
    if name_or_id.startswith("/"):
        return paths.resource_path(name_or_id, option=option, expect_type=STORAGE_TYPE, strict=True)
    name = paths.STORAGE_ACCOUNT.check(name_or_id, option)
    return paths.resource_path(f"{resource_group_id}/providers/{STORAGE_TYPE}/{name}", strict=True)


def check_destination_ids(destinations: Destinations) -> None:
    """Destination resource IDs a user typed are well-formed IDs of the right type (exit 2 otherwise)."""
    for value, option, kind in (
        (destinations.workspace_id, "--log-analytics", "Microsoft.OperationalInsights/workspaces"),
        (
            destinations.event_hub_rule_id,
            "--event-hub-rule",
            "Microsoft.EventHub/namespaces/authorizationRules",
        ),
    ):
        if value:
            paths.parse_resource_id(value, option=option, expect_type=kind, strict=True)


def component_location(arm: ArmClient, component_id: str) -> str | None:
    body = arm.get_json(paths.resource_path(component_id), COMPONENT_API)
    return body.get("location")


def classic_exports(appinsights: Any, component_id: str) -> list[dict[str, Any]]:
    """Continuous export configurations still attached (retired: they deliver nothing)."""
    from azure.core.exceptions import HttpResponseError

    parts = component_id.strip("/").split("/")
    resource_group, name = parts[3], parts[-1]
    try:
        configs = appinsights.export_configurations.list(resource_group, name) or []
    except HttpResponseError as exc:
        if getattr(exc, "status_code", None) in (400, 404):
            return []
        raise
    return [
        {
            "exportId": getattr(config, "export_id", None),
            "destinationStorageLocationId": getattr(config, "destination_storage_location_id", None),
            "containerName": getattr(config, "container_name", None),
            "recordTypes": getattr(config, "record_types", None),
            "isUserEnabled": getattr(config, "is_user_enabled", None),
            "retired": True,
        }
        for config in configs
    ]


def same_region(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return True
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()
