"""The plans (old → new, pure): v1's JSON patch on a service, v2's changed deployment body.

Each plan changes only the fields asked for and reports every change as a `Change`; comparisons are
the service's own (modes without case, rates as numbers), so a second run with the same wish is empty.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from amlmon.diagnostics.inventory import APP_INSIGHTS, MODEL_COLLECTIONS, PAYLOAD_COLLECTIONS, as_dict
from amlmon.errors import OperationFailed, UsageError

MODEL_DATA = "dataCollection.storageEnabled"
ROLLING_RATES = ("Minute", "Hour", "Day", "Month", "Year")
COLLECTOR = "properties.dataCollector"


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


# --- v1: a JSON patch on the service ------------------------------------------------------------------
def plan_v1(service: dict[str, Any], *, enable: bool | None, model_data: bool | None) -> list[Change]:
    """Changes for a v1 service: appInsightsEnabled (unless None), and dataCollection.storageEnabled when asked."""
    changes = []
    current = bool(service.get(APP_INSIGHTS))
    if enable is not None and current != enable:
        changes.append(Change(APP_INSIGHTS, current, enable))
    if model_data is not None:
        data = as_dict(service.get("dataCollection"))
        stored = bool(data.get("storageEnabled"))
        if stored != model_data:
            changes.append(Change(MODEL_DATA, stored, model_data))
    return changes


def json_patch(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The model-management API's JSON patch for a v1 plan."""
    return [
        {"op": "replace", "path": "/" + change.field.replace(".", "/"), "value": change.new}
        for change in changes
    ]


# --- v2: the deployment body to PUT -------------------------------------------------------------------
@dataclass
class V2Want:
    """What to change on v2 deployments (None: leave that pipe as it is)."""

    app_insights: bool | None = None
    model_data: bool | None = None  # model_inputs + model_outputs
    payloads: bool | None = None  # request + response
    sampling_rate: float | None = None  # for the collections this run enables
    rolling_rate: str | None = None
    capture_headers: list[str] | None = None
    endpoint_logs: bool | None = None
    log_analytics_workspace: str | None = None

    def collections(self) -> dict[str, bool]:
        wanted: dict[str, bool] = {}
        for names, on in ((MODEL_COLLECTIONS, self.model_data), (PAYLOAD_COLLECTIONS, self.payloads)):
            if on is not None:
                wanted.update(dict.fromkeys(names, on))
        return wanted

    def touches_deployment(self) -> bool:
        return any(
            value is not None
            for value in (
                self.app_insights,
                self.model_data,
                self.payloads,
                self.rolling_rate,
                self.capture_headers,
            )
        )


def parse_rolling_rate(text: str | None) -> str | None:
    """`hour` → `Hour` (the enum's spelling); a usage error names the accepted values."""
    if text is None:
        return None
    by_lower = {rate.lower(): rate for rate in ROLLING_RATES}
    if text.strip().lower() not in by_lower:
        raise UsageError(
            f"--rolling-rate {text!r} is not a rolling rate",
            hint=f"use one of {', '.join(r.lower() for r in ROLLING_RATES)}",
        )
    return by_lower[text.strip().lower()]


Same = Callable[[Any, Any], bool]


class _Edits:
    """Sets fields in the copied body and records each one that really changes."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def set(
        self, path: str, container: dict[str, Any], key: str, value: Any, same: Same | None = None
    ) -> None:
        old = container.get(key)
        if (same or _equal)(old, value):
            return
        container[key] = value
        self.changes.append(Change(path, old, value))


def plan_v2(
    deployment_body: dict[str, Any], want: V2Want, data_ids: dict[str, str] | None = None
) -> tuple[list[Change], dict[str, Any]]:
    """The changes for one v2 deployment and the body to PUT (the read body with only those changed).

    `data_ids`: the data asset ARM id per collection, set as `dataId` on a collection enabled without one.
    """
    body = copy.deepcopy(deployment_body)
    props = body.setdefault("properties", {})
    edits = _Edits()
    if want.app_insights is not None:
        old = bool(props.get(APP_INSIGHTS))
        if old != want.app_insights:
            props[APP_INSIGHTS] = want.app_insights
            edits.changes.append(Change(f"properties.{APP_INSIGHTS}", old, want.app_insights))
    existing = props.get("dataCollector")
    collector = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    _plan_collector(collector, want, data_ids or {}, edits)
    if any(change.field.startswith(COLLECTOR) for change in edits.changes):
        props["dataCollector"] = collector
    return edits.changes, body


def _plan_collector(collector: dict[str, Any], want: V2Want, data_ids: dict[str, str], edits: _Edits) -> None:
    collections = collector.setdefault("collections", {})
    if not isinstance(collections, dict):
        raise OperationFailed(
            "properties.dataCollector.collections is not an object; amlmon will not rewrite it"
        )
    for name, on in want.collections().items():
        _plan_collection(collections, name, on, want, data_ids, edits)
    if want.rolling_rate is not None:
        edits.set(f"{COLLECTOR}.rollingRate", collector, "rollingRate", want.rolling_rate, same_mode)
    if want.capture_headers is not None:
        logging = collector.setdefault("requestLogging", {})
        path = f"{COLLECTOR}.requestLogging.captureHeaders"
        edits.set(path, logging, "captureHeaders", want.capture_headers)
        if not logging:
            collector.pop("requestLogging")
    if not collections:
        collector.pop("collections")


def _plan_collection(
    collections: dict[str, Any], name: str, on: bool, want: V2Want, data_ids: dict[str, str], edits: _Edits
) -> None:
    path = f"{COLLECTOR}.collections.{name}"
    current = collections.get(name)
    if not on and not isinstance(current, dict):
        return  # nothing collected: nothing to turn off
    spec = current if isinstance(current, dict) else collections.setdefault(name, {})
    mode = "Enabled" if on else "Disabled"
    edits.set(f"{path}.dataCollectionMode", spec, "dataCollectionMode", mode, same_mode)
    if on and want.sampling_rate is not None:
        edits.set(f"{path}.samplingRate", spec, "samplingRate", want.sampling_rate, same_rate)
    if on and not spec.get("dataId") and name in data_ids:
        edits.set(f"{path}.dataId", spec, "dataId", data_ids[name])


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def same_mode(a: Any, b: Any) -> bool:
    """Enum values as the service compares them: without case."""
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def same_rate(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and abs(float(a) - float(b)) < 1e-9


def collection_asset_name(endpoint: str, deployment: str, collection: str) -> str:
    """The data asset the SDK registers for a collection: `{ep}-{dep}-{collection}`, version 1."""
    return f"{endpoint}-{deployment}-{collection}"


def collection_data_uri(endpoint: str, deployment: str, collection: str) -> str:
    """Where the collector writes: the default datastore's modelDataCollector/{ep}/{dep}/{collection}."""
    return f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/{endpoint}/{deployment}/{collection}"
