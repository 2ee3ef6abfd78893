"""v2 deployment checks: provisioning state, App Insights, the data collector and each collection."""

from __future__ import annotations

from typing import Any

from amlmon.doctor.findings import Finding, arm_properties, name_of, switch

COLLECTIONS = ("model_inputs", "model_outputs", "request", "response")


def check_deployment(endpoint: dict[str, Any], deployment: dict[str, Any]) -> list[Finding]:
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
    found += _collector(target, props.get("dataCollector"))
    for check, why in (
        ("v2.endpoint-logs", "endpoint diagnostic setting and AmlOnlineEndpoint* tables"),
        ("v2.collection-errors", "platform metric DataCollectionErrorsPerMinute"),
        ("v2.console-log", "collector failures and start-up lines in the console log"),
    ):
        found.append(Finding(check, target, "skip", f"not checked yet: {why}"))
    return found


def _collector(target: str, collector: Any) -> list[Finding]:
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
        found.append(collection_finding(target, name, spec))
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


def collection_finding(target: str, name: str, spec: dict[str, Any]) -> Finding:
    check = f"v2.collection.{name}"
    mode = str(spec.get("dataCollectionMode") or "Enabled")
    rate = spec.get("samplingRate")
    if mode.lower() != "enabled":
        return Finding(
            check,
            target,
            "warn",
            f"dataCollectionMode {mode}: nothing collected",
            f"amlmon diagnostics enable {target} --model-data",
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
            f"amlmon diagnostics enable {target} --model-data  (creates the data asset and sets dataId)",
        )
    return Finding(check, target, "ok", f"{evidence}, dataId {name_of(str(spec['dataId']))}")
