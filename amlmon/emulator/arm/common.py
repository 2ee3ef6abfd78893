"""Shared pieces of the emulated ARM: path patterns, ids, clock, ARM's 404 and `value`/`nextLink` paging."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, arm_error, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


ML = "Microsoft.MachineLearningServices"
SUB_RG = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
WS = SUB_RG + rf"/providers/{ML}/workspaces/(?P<ws>[^/]+)"
DIAG = r"(?P<uri>/subscriptions/.+?)/providers/microsoft\.insights/diagnosticSettings"

# Categories a workspace-based App Insights component offers (diagnosticSettingsCategories).
COMPONENT_LOG_CATEGORIES = (
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
MAX_DIAGNOSTIC_SETTINGS = 5

# Categories an online endpoint offers (the AmlOnlineEndpoint* tables; Azure Monitor table reference).
ENDPOINT_LOG_CATEGORIES = (
    "AmlOnlineEndpointConsoleLog",
    "AmlOnlineEndpointTrafficLog",
    "AmlOnlineEndpointEventLog",
)


def knows_data_collector(api_version: str | None) -> bool:
    """Whether a Microsoft.MachineLearningServices api-version models `properties.dataCollector`.

    Previews from 2023-04-01-preview on have it; of the GA versions only 2024-04-01 and later (GA
    2023-04-01 and 2023-10-01 lack it). A version without it drops the field on read and on write —
    which is how an old client's read-modify-write silently deletes a collector. Sources: the
    azure-ai-ml SDK builds DataCollector/Collection from its v2023_04_01_preview rest models; the
    azure-rest-api-specs stable 2024-04-01 OnlineDeployment model has it; see AZURE-FACTS "v2 online
    endpoints" (and Azure/MachineLearningNotebooks#1890 for the silent drop).
    """
    text = str(api_version or "").lower()
    date = text[:10]
    if len(date) != 10 or date[4] != "-" or date[7] != "-":
        return False
    return date >= ("2023-04-01" if text.endswith("-preview") else "2024-04-01")


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


EMULATOR_USER = "amlmon-emulator"


def system_data() -> dict[str, str]:
    """ARM's `systemData` of a resource created now: created* and lastModified* alike, 7 fractional
    digits (as the recorded GET of an online endpoint shows)."""
    at = _arm_instant()
    return {
        "createdAt": at,
        "createdBy": EMULATOR_USER,
        "createdByType": "User",
        "lastModifiedAt": at,
        "lastModifiedBy": EMULATOR_USER,
        "lastModifiedByType": "User",
    }


def modified(existing: dict[str, Any] | None) -> dict[str, str]:
    """`systemData` after a successful write: ARM keeps created* and stamps lastModified* on every
    PUT/PATCH it accepts (systemData is read-only: whatever the client sent is ignored)."""
    fresh = system_data()
    kept = dict((existing or {}).get("systemData") or {})
    if not kept:
        return fresh
    kept.update({k: v for k, v in fresh.items() if k.startswith("lastModified")})
    return kept


def _arm_instant() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e7):07d}Z"


def guid() -> str:
    return str(uuid.uuid4())


def arm_id(sub: str, rg: str, provider: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{name}"


def not_found(resource_id: str) -> Response:
    # ARM's wording, word for word (clients and people search for it).
    parts = resource_id.strip("/").split("/")
    return arm_error(
        404,
        "ResourceNotFound",
        f"The Resource '{'/'.join(parts[5:]) or resource_id}' under resource group "
        f"'{parts[3] if len(parts) > 3 else ''}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


def paged(state: EmulatorState, request: Request, items: list[dict[str, Any]]) -> Response:
    """`value` + `nextLink` paging with an opaque skip token, like ARM list calls."""
    size = max(1, int(state.number("pageSize", 100)))
    items.sort(key=lambda item: str(item.get("id", "")).lower())
    try:
        skip = int(request.q("$skipToken") or 0)
    except ValueError:
        skip = 0
    body: dict[str, Any] = {"value": items[skip : skip + size]}
    if skip + size < len(items):
        version = request.q("api-version")
        body["nextLink"] = f"{state.endpoint}{request.path}?api-version={version}&$skipToken={skip + size}"
    return json_response(200, body)
