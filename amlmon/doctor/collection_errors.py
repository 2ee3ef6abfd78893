"""v2 check on the platform metric DataCollectionErrorsPerMinute (with its `reason`) next to
DataCollectionEventsPerMinute: records the data collector's sidecar could not store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from amlmon.doctor.findings import Finding

if TYPE_CHECKING:
    from amlmon.doctor.endpoints_v2 import EndpointState

ERRORS_METRIC = "DataCollectionErrorsPerMinute"
EVENTS_METRIC = "DataCollectionEventsPerMinute"
METRICS = (EVENTS_METRIC, ERRORS_METRIC)
METRICS_FILTER = "deployment eq '*' and reason eq '*'"  # one series per deployment and reason
STORAGE_FIX = (
    "check the workspace's default datastore (storage account keys, firewall, the identity's "
    "Storage Blob Data Contributor role); records lost meanwhile are not resent"
)


def collection_errors_finding(state: EndpointState, target: str, deployment: str, window: str) -> Finding:
    """DataCollectionErrorsPerMinute over the window for this deployment, by reason."""
    check = "v2.collection-errors"
    if state.metrics is None:
        return Finding(
            check, target, "skip", f"metrics not read: {state.metrics_error or 'no metrics source'}"
        )
    errors: dict[str, int] = {}
    events = 0
    for metric in state.metrics.get("value") or []:
        name = str((metric.get("name") or {}).get("value") or "")
        for series in metric.get("timeseries") or []:
            dims = {
                str((m.get("name") or {}).get("value") or "").lower(): str(m.get("value") or "")
                for m in series.get("metadatavalues") or []
            }
            if dims.get("deployment") != deployment:
                continue
            total = int(sum(float(d.get("total") or 0) for d in series.get("data") or []))
            if name == ERRORS_METRIC and total:
                reason = dims.get("reason") or "no reason"
                errors[reason] = errors.get(reason, 0) + total
            elif name == EVENTS_METRIC:
                events += total
    if not errors:
        return Finding(check, target, "ok", f"no {ERRORS_METRIC} in the last {window} ({events} events)")
    count = sum(errors.values())
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(errors.items(), key=lambda kv: -kv[1]))
    return Finding(
        check,
        target,
        "fail" if events == 0 else "warn",
        f"{count} {ERRORS_METRIC} in the last {window} (reason {reasons}); {events} events stored",
        STORAGE_FIX,
    )
