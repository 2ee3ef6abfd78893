"""Inventory rows: one `Item` per v1 service or v2 deployment, built from what the APIs return (pure)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from amlmon.errors import UsageError
from amlmon.schema import ENDPOINT_LOGS
from amlmon.timeparse import utc_instant

KINDS = ("ACI", "AKS", "Managed", "Kubernetes")
V1_KINDS = {"ACI": "ACI", "AKS": "AKS", "AKSENDPOINT": "AKS"}
APP_INSIGHTS = "appInsightsEnabled"
# v2 data collector: collections score.py logs through azureml-ai-monitoring, and the reserved payload ones.
MODEL_COLLECTIONS = ("model_inputs", "model_outputs")
PAYLOAD_COLLECTIONS = ("request", "response")
ALL_COLLECTIONS = MODEL_COLLECTIONS + PAYLOAD_COLLECTIONS
ENDPOINT_LOG_CATEGORIES = ENDPOINT_LOGS.tables()  # a v2 endpoint's diagnostic-setting categories
ENDPOINT_LOGS_SETTING = "amlmon-endpoint-logs"


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when the service sent an object there, else {} (a field may be null or absent)."""
    return value if isinstance(value, dict) else {}


@dataclass
class Item:
    """One deployed model: a v1 service or a v2 deployment, as `services list` shows it."""

    target: str
    kind: str
    state: str | None
    diagnostics: bool
    model_data: bool | None  # None: not a v1 setting (v2 deployments)
    scoring_uri: str | None
    updated: str | None
    api: str  # "v1", "v2", or "endpoint-logs" (a v2 endpoint's diagnostic setting)
    endpoint: str | None = None
    data_collector: dict[str, Any] | None = None  # v2: collections, rollingRate, captureHeaders
    endpoint_logs: dict[str, Any] | None = None  # v2: categories and destinations of the endpoint

    def row(self) -> dict[str, Any]:
        """Stable JSON field names (also the table's columns)."""
        return {
            "target": self.target,
            "kind": self.kind,
            "state": self.state,
            "diagnostics": self.diagnostics,
            "modelData": self.model_data,
            "scoringUri": self.scoring_uri,
            "updated": self.updated,
            "dataCollector": self.data_collector,
            "endpointLogs": self.endpoint_logs,
        }


def endpoint_row(endpoint: str, api: str) -> Item:
    """A row standing for a whole v2 endpoint (`v2-endpoint` placeholder, or its `endpoint-logs` setting)."""
    return Item(endpoint, "endpoint", None, False, None, None, None, api, endpoint)


def service_item(service: dict[str, Any]) -> Item:
    compute = str(service.get("computeType") or "")
    data = as_dict(service.get("dataCollection"))
    return Item(
        target=str(service.get("name")),
        kind=V1_KINDS.get(compute.upper(), compute or "unknown"),
        state=service.get("state"),
        diagnostics=bool(service.get("appInsightsEnabled")),
        model_data=bool(data.get("storageEnabled")),
        scoring_uri=service.get("scoringUri"),
        updated=utc_instant(service.get("updatedTime") or service.get("createdTime")),
        api="v1",
    )


def deployment_item(
    endpoint: dict[str, Any],
    deployment: dict[str, Any],
    assets: dict[str, bool] | None = None,
    endpoint_logs: dict[str, Any] | None = None,
) -> Item:
    """A v2 deployment's row; `assets` (dataId → exists) and `endpoint_logs` when they were read."""
    props = as_dict(deployment.get("properties"))
    ep_props = as_dict(endpoint.get("properties"))
    system = as_dict(deployment.get("systemData"))
    ep_name = str(endpoint.get("name"))
    collector = collector_summary(props.get("dataCollector"), assets)
    modes = [collector["collections"].get(name, {}).get("mode") for name in MODEL_COLLECTIONS]
    return Item(
        target=f"{ep_name}/{deployment.get('name')}",
        kind=str(props.get("endpointComputeType") or deployment.get("kind") or "unknown"),
        state=props.get("provisioningState"),
        diagnostics=bool(props.get(APP_INSIGHTS)),
        model_data=any(is_enabled(mode) for mode in modes),
        scoring_uri=ep_props.get("scoringUri"),
        updated=utc_instant(system.get("lastModifiedAt") or system.get("createdAt")),
        api="v2",
        endpoint=ep_name,
        data_collector=collector,
        endpoint_logs=endpoint_logs,
    )


def is_enabled(mode: Any) -> bool:
    """dataCollectionMode comes back as `Enabled` or `enabled`: compare without case."""
    return str(mode or "").lower() == "enabled"


def collector_summary(collector: Any, assets: dict[str, bool] | None = None) -> dict[str, Any]:
    """properties.dataCollector as status shows it: each collection's mode, sampling rate, data asset."""
    data = as_dict(collector)
    collections = {}
    for name, spec in sorted(as_dict(data.get("collections")).items()):
        spec = as_dict(spec)
        data_id = spec.get("dataId")
        collections[name] = {
            "mode": spec.get("dataCollectionMode"),
            "samplingRate": spec.get("samplingRate"),
            "dataId": data_id,
            "dataAssetExists": None if assets is None or not data_id else assets.get(str(data_id).lower()),
        }
    return {
        "collections": collections,
        "rollingRate": data.get("rollingRate"),
        "captureHeaders": list(as_dict(data.get("requestLogging")).get("captureHeaders") or []),
    }


def endpoint_logs_summary(settings: Sequence[Any]) -> dict[str, Any]:
    """Which AmlOnlineEndpoint* categories the endpoint's diagnostic settings send, and where."""
    categories: set[str] = set()
    destinations = []
    for setting in settings:
        mine = [c for c in ENDPOINT_LOG_CATEGORIES if c in setting.categories]
        if not mine:
            continue
        categories.update(mine)
        props = setting.properties
        destinations.append(
            {
                "setting": setting.name,
                "categories": mine,
                "workspaceId": props.get("workspaceId"),
                "storageAccountId": props.get("storageAccountId"),
                "eventHubAuthorizationRuleId": props.get("eventHubAuthorizationRuleId"),
                "createdByAmlmon": setting.name.lower() == ENDPOINT_LOGS_SETTING,
            }
        )
    ordered = [c for c in ENDPOINT_LOG_CATEGORIES if c in categories]
    return {"categories": ordered, "destinations": destinations}


def parse_kinds(values: Iterable[str]) -> set[str]:
    """--kind ACI,aks → {"ACI", "AKS"} (case-insensitive, comma-separated or repeated)."""
    wanted: set[str] = set()
    by_lower = {k.lower(): k for k in KINDS}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if part.lower() not in by_lower:
                raise UsageError(f"--kind {part!r} is not a kind", hint=f"use one of {', '.join(KINDS)}")
            wanted.add(by_lower[part.lower()])
    return wanted


def matches(item: Item, kinds: set[str], name_glob: str | None) -> bool:
    if kinds and item.kind not in kinds:
        return False
    return name_glob is None or fnmatch.fnmatchcase(item.target.lower(), name_glob.lower())


def endpoint_items(items: Sequence[Item]) -> list[Item]:
    """One row per endpoint of the chosen v2 deployments: its logs are a setting of the endpoint."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.api == "v2" and item.endpoint and item.endpoint.lower() not in seen:
            seen[item.endpoint.lower()] = endpoint_row(item.endpoint, "endpoint-logs")
    return list(seen.values())
