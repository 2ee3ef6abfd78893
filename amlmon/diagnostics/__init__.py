"""Diagnostics on deployed models: inventory, target resolution, the plan (old → new), and applying it.

Rooms: `inventory` (rows from what the APIs return), `resolution` (which rows TARGETs name), `plan`
(v1 JSON patch, v2 deployment body), `workspace` (reading both APIs), `results` (options, outcomes,
exit code), `apply` (the bounded bulk run) with one module per kind of write (`apply_v1`, `apply_v2`,
`apply_endpoint_logs`). The pure parts have unit tests; this package's names are its public API.
"""

from __future__ import annotations

from amlmon.diagnostics.apply import MAX_WORKERS, apply
from amlmon.diagnostics.apply_v2 import collection_asset_id
from amlmon.diagnostics.inventory import (
    ALL_COLLECTIONS,
    APP_INSIGHTS,
    ENDPOINT_LOG_CATEGORIES,
    ENDPOINT_LOGS_SETTING,
    KINDS,
    MODEL_COLLECTIONS,
    PAYLOAD_COLLECTIONS,
    V1_KINDS,
    Item,
    collector_summary,
    deployment_item,
    endpoint_items,
    endpoint_logs_summary,
    is_enabled,
    matches,
    parse_kinds,
    service_item,
)
from amlmon.diagnostics.plan import (
    COLLECTOR,
    MODEL_DATA,
    ROLLING_RATES,
    Change,
    V2Want,
    collection_asset_name,
    collection_data_uri,
    json_patch,
    parse_rolling_rate,
    plan_v1,
    plan_v2,
)
from amlmon.diagnostics.resolution import Resolution, is_named, not_found_error, resolve
from amlmon.diagnostics.results import Options, Progress, Result, exit_code, summary
from amlmon.diagnostics.workspace import Workspace, collect, unlisted_warnings
from amlmon.errors import Interrupted
from amlmon.timeparse import utc_instant

__all__ = [
    "ALL_COLLECTIONS",
    "APP_INSIGHTS",
    "COLLECTOR",
    "ENDPOINT_LOGS_SETTING",
    "ENDPOINT_LOG_CATEGORIES",
    "KINDS",
    "MAX_WORKERS",
    "MODEL_COLLECTIONS",
    "MODEL_DATA",
    "PAYLOAD_COLLECTIONS",
    "ROLLING_RATES",
    "V1_KINDS",
    "Change",
    "Interrupted",
    "Item",
    "Options",
    "Progress",
    "Resolution",
    "Result",
    "V2Want",
    "Workspace",
    "apply",
    "collect",
    "collection_asset_id",
    "collection_asset_name",
    "collection_data_uri",
    "collector_summary",
    "deployment_item",
    "endpoint_items",
    "endpoint_logs_summary",
    "exit_code",
    "is_enabled",
    "is_named",
    "json_patch",
    "matches",
    "not_found_error",
    "parse_kinds",
    "parse_rolling_rate",
    "plan_v1",
    "plan_v2",
    "resolve",
    "service_item",
    "summary",
    "unlisted_warnings",
    "utc_instant",
]
