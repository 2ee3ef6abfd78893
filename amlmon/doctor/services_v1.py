"""v1 service checks: state and switches, and from summarizing queries the newest ingested row per kind,
the inference server generation that wrote it, and model data cut at App Insights' value limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from amlmon import kql
from amlmon.doctor.findings import Finding, Status, instant_and_age, switch
from amlmon.schema import APP, GENERIC_ROLE, MODEL_DATA_MESSAGE, PACKED_DIMENSION, SERVICE_DIMENSION
from amlmon.targets import Target, telemetry_filter

VALUE_LIMIT = 8192  # App Insights cuts each custom property value at 8,192 characters


def service_queries(name: str) -> dict[str, str]:
    c = APP["app-insights"]
    where = telemetry_filter([Target(name)], "app-insights")
    legacy = f"countif({c.role} == {kql.string(GENERIC_ROLE)})"
    summary = f"rows = count(), newest = max(ingestion_time()), legacy = {legacy}"
    cut = (
        f"iff({c.message} == {kql.string(MODEL_DATA_MESSAGE)} and "
        f"(strlen({c.dimension(PACKED_DIMENSION)}) >= {VALUE_LIMIT} or "
        f"strlen({c.dimension('Input')}) >= {VALUE_LIMIT}), 1, 0)"
    )
    return {
        "requests": f"{c.requests}\n| where {where}\n| summarize {summary}",
        "exceptions": f"{c.exceptions}\n| where {where}\n| summarize {summary}",
        "traces": (
            f"{c.traces}\n| where {where}\n"
            f"| extend md = iff({c.message} == {kql.string(MODEL_DATA_MESSAGE)}, 1, 0), cut = {cut}\n"
            f"| summarize {summary}, truncated = sum(cut) by md"
        ),
    }


def check_service_settings(service: dict[str, Any]) -> list[Finding]:
    name = str(service.get("name"))
    state = str(service.get("state") or "unknown")
    found = [
        Finding("v1.state", name, "ok", f"state {state}")
        if state.lower() == "healthy"
        else Finding(
            "v1.state",
            name,
            "fail" if state.lower() in ("failed", "unhealthy", "unschedulable") else "warn",
            f"state {state}: a service that is not Healthy serves nothing",
            f"az ml service get-logs -n {name}  (then redeploy)",
        )
    ]
    app_insights_off = (
        "appInsightsEnabled false: the inference server sends no requests, traces or exceptions"
    )
    found.append(
        switch(
            "v1.app-insights",
            name,
            service.get("appInsightsEnabled"),
            "appInsightsEnabled true",
            ("fail", app_insights_off, f"amlmon diagnostics enable {name}"),
        )
    )
    raw = service.get("dataCollection")
    collection: dict[str, Any] = raw if isinstance(raw, dict) else {}
    model_data_off = "dataCollection.storageEnabled false: no model inputs / predictions are collected"
    found.append(
        switch(
            "v1.model-data",
            name,
            collection.get("storageEnabled"),
            "dataCollection.storageEnabled true",
            ("warn", model_data_off, f"amlmon diagnostics enable {name} --model-data"),
        )
    )
    return found


def service_telemetry(
    name: str,
    answers: dict[str, tuple[list[dict[str, Any]] | None, str | None]],
    now: dt.datetime,
    window: str,
) -> list[Finding]:
    """Newest ingested row per kind, the generation that wrote it, and the share of cut model data."""
    kinds: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    for table in ("requests", "exceptions"):
        rows, error = answers[table]
        kinds[table[:-1]] = (rows[0] if rows else {"rows": 0}, error)
    rows, error = answers["traces"]
    by_md = {int(row.get("md") or 0): row for row in rows or []}
    kinds["trace"] = (by_md.get(0, {"rows": 0}), error)
    kinds["model-data"] = (by_md.get(1, {"rows": 0}), error)
    found = [_newest(name, kind, row, error, now, window) for kind, (row, error) in kinds.items()]
    found.append(_truncation(name, kinds["model-data"][0], kinds["model-data"][1], window))
    return found


def _newest(
    name: str, kind: str, row: dict[str, Any] | None, error: str | None, now: dt.datetime, window: str
) -> Finding:
    check = f"v1.newest-{kind}"
    if error is not None:
        return Finding(check, name, "skip", f"query failed: {error}")
    count = int((row or {}).get("rows") or 0)
    if count == 0:
        status: Status = "ok" if kind == "exception" else "warn"
        fix = None if kind == "exception" else _no_rows_fix(name, kind)
        return Finding(check, name, status, f"no {kind} rows ingested for {name} in the last {window}", fix)
    writer = generation(count, int((row or {}).get("legacy") or 0))
    how = f"role {GENERIC_ROLE} + {SERVICE_DIMENSION}" if writer.startswith("1.4") else "role = service name"
    return Finding(
        check,
        name,
        "ok",
        f"{count} row{'' if count == 1 else 's'} in {window}, newest ingested {instant_and_age((row or {}).get('newest'), now)}; "
        f"written by inference server {writer} ({how})",
    )


def _no_rows_fix(name: str, kind: str) -> str:
    if kind == "model-data":
        return f"amlmon diagnostics enable {name} --model-data, then send scoring requests"
    return f"send a scoring request; if still nothing, `amlmon doctor {name}` checks above say why"


def _truncation(name: str, row: dict[str, Any] | None, error: str | None, window: str) -> Finding:
    check = "v1.model-data-truncated"
    if error is not None:
        return Finding(check, name, "skip", f"query failed: {error}")
    total = int((row or {}).get("rows") or 0)
    if total == 0:
        return Finding(check, name, "skip", f"no model-data records in the last {window}")
    cut = int((row or {}).get("truncated") or 0)
    share = 100.0 * cut / total
    if cut == 0:
        return Finding(
            check, name, "ok", f"none of {total} model-data records cut at {VALUE_LIMIT:,} characters"
        )
    return Finding(
        check,
        name,
        "warn",
        f"{cut} of {total} model-data records ({share:.1f} %) cut at {VALUE_LIMIT:,} characters: "
        "App Insights truncates each property value, the inputs are lost",
        "inputs this large belong in the v2 data collector (blob storage, no size limit): "
        "deploy as a v2 online deployment with `dataCollector` model_inputs/model_outputs",
    )


def generation(rows: int, legacy: int) -> str:
    """Which inference server wrote the rows: 1.4.x sends the role `azmlinfsrv`, 1.5.x the service name."""
    if rows == 0:
        return "none"
    if legacy == 0:
        return "1.5.x"
    return "1.4.x" if legacy == rows else "1.4.x and 1.5.x"
