"""v2 deployment checks: provisioning state, App Insights, the data collector and each collection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amlmon.doctor.findings import Finding, arm_properties, switch

COLLECTIONS = ("model_inputs", "model_outputs", "request", "response")
AssetExists = Callable[[str], bool | None]  # dataId → the data asset exists (None: not checkable)


def check_deployment(
    endpoint: dict[str, Any], deployment: dict[str, Any], asset_exists: AssetExists | None = None
) -> list[Finding]:
    target = f"{endpoint.get('name')}/{deployment.get('name')}"
    props = arm_properties(deployment)
    state = str(props.get("provisioningState") or "unknown")
    found = [
        Finding("v2.provisioning", target, "ok", f"provisioningState {state}")
        if state == "Succeeded"
        else Finding(
            "v2.provisioning",
            target,
            "fail" if state in ("Failed", "Canceled") else "warn",
            f"provisioningState {state}",
            f"az ml online-deployment get-logs -e {endpoint.get('name')} -n {deployment.get('name')}",
        )
    ]
    found.append(
        switch(
            "v2.app-insights",
            target,
            props.get("appInsightsEnabled"),
            "appInsightsEnabled true",
            (
                "fail",
                "appInsightsEnabled false: no requests, traces or exceptions reach App Insights",
                f"amlmon diagnostics enable {target}",
            ),
        )
    )
    found += _collector(target, props.get("dataCollector"), asset_exists)
    return found


def _collector(target: str, collector: Any, asset_exists: AssetExists | None) -> list[Finding]:
    if not isinstance(collector, dict) or not collector.get("collections"):
        return [
            Finding(
                "v2.data-collector",
                target,
                "warn",
                "no dataCollector: model inputs and outputs are not collected (model monitoring has nothing)",
                f"amlmon diagnostics enable {target} --model-data",
            )
        ]
    found: list[Finding] = []
    collections = collector.get("collections") or {}
    for name in sorted(collections):
        spec = collections[name] if isinstance(collections[name], dict) else {}
        exists = None
        if asset_exists is not None and spec.get("dataId") and _enabled(spec):
            exists = asset_exists(str(spec["dataId"]))
        found.append(collection_finding(target, name, spec, exists))
    rolling = str(collector.get("rollingRate") or "Hour")
    found.append(
        Finding("v2.rolling-rate", target, "ok", f"rollingRate {rolling}")
        if rolling.lower() == "hour"
        else Finding(
            "v2.rolling-rate",
            target,
            "warn",
            f"rollingRate {rolling}: Azure ML model monitoring reads hourly folders and finds nothing",
            f"amlmon diagnostics enable {target} --model-data --rolling-rate hour",
        )
    )
    return found


def _enabled(spec: dict[str, Any]) -> bool:
    return str(spec.get("dataCollectionMode") or "Enabled").lower() == "enabled"


def collection_finding(
    target: str, name: str, spec: dict[str, Any], asset_exists: bool | None = None
) -> Finding:
    """A collection's mode, sampling rate and dataId; `asset_exists` False: its data asset is gone."""
    check = f"v2.collection.{name}"
    mode = str(spec.get("dataCollectionMode") or "Enabled")
    rate = spec.get("samplingRate")
    if mode.lower() != "enabled":
        return Finding(
            check,
            target,
            "warn",
            f"dataCollectionMode {mode}: nothing collected",
            f"amlmon diagnostics enable {target} {_switch(name)}",
        )
    problems = []
    if not spec.get("dataId"):
        problems.append("no dataId (Azure ML model monitoring cannot find the data asset)")
    try:
        rate_value = 1.0 if rate is None else float(rate)
    except (TypeError, ValueError):
        rate_value = 1.0
    if rate_value <= 0:
        problems.append(f"samplingRate {rate}: nothing is kept")
    evidence = f"mode {mode}, samplingRate {rate if rate is not None else 1.0}"
    if problems:
        return Finding(
            check,
            target,
            "fail" if rate_value <= 0 else "warn",
            f"{evidence}; " + "; ".join(problems),
            f"amlmon diagnostics enable {target} {_switch(name)}  (creates the data asset and sets dataId)",
        )
    data_id = str(spec["dataId"])
    if asset_exists is False:
        return Finding(
            check,
            target,
            "fail",
            f"{evidence}; dataId {data_id} names a data asset that does not exist: "
            "Azure ML model monitoring finds no production data",
            _asset_fix(target, name, data_id),
        )
    checked = ", data asset exists" if asset_exists else ""
    return Finding(check, target, "ok", f"{evidence}, dataId {_asset_name(data_id)}{checked}")


def _switch(collection: str) -> str:
    """The `diagnostics enable` option that switches a collection on: the reserved request/response
    names are payload logging, every other collection (model_inputs, model_outputs) model data."""
    return "--payloads" if collection in ("request", "response") else "--model-data"


def _asset_name(data_id: str) -> str:
    """`{name}:{version}` of `…/data/{name}/versions/{version}` or `azureml:{name}:{version}`; any
    other dataId whole (its last segment alone may be just the version: `dataId 1` says nothing)."""
    parts = data_id.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2].lower() == "versions" and parts[-4].lower() == "data":
        return f"{parts[-3]}:{parts[-1]}"
    if data_id.lower().startswith("azureml:") and "/" not in data_id:
        return data_id.split(":", 1)[1]
    return data_id


def _asset_fix(target: str, name: str, data_id: str) -> str:
    """amlmon's own asset (`{ep}-{dep}-{collection}`, version 1) is re-registered by `diagnostics enable`;
    an asset of the user's own naming is re-registered where the collector writes, with az."""
    endpoint, deployment = target.split("/", 1)
    asset, _, version = _asset_name(data_id).partition(":")
    if asset == f"{endpoint}-{deployment}-{name}" and version in ("", "1"):
        return f"amlmon diagnostics enable {target} {_switch(name)}"
    path = f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/{endpoint}/{deployment}/{name}"
    return f"az ml data create --name {asset} --version {version or 1} --type uri_folder --path {path}"
