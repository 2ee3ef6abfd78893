"""Applying endpoint logs: amlmon's own diagnostic setting on a v2 endpoint (three categories → Log Analytics)."""

from __future__ import annotations

from typing import Any

from amlmon.diagnostics.inventory import ENDPOINT_LOG_CATEGORIES, ENDPOINT_LOGS_SETTING
from amlmon.diagnostics.plan import Change
from amlmon.diagnostics.results import Options, Step
from amlmon.diagnostics.workspace import Workspace
from amlmon.errors import OperationFailed, UsageError


def apply_endpoint_logs(ws: Workspace, step: Step) -> None:
    from amlmon.azure import deployments_v2 as v2api
    from amlmon.azure import diagnostic_settings as ds

    item, options, result = step.item, step.options, step.result
    endpoint_id = v2api.endpoint_path(ws.v2, item.target)
    settings = ds.list_settings(ws.arm, endpoint_id)
    mine = next((s for s in settings if s.name.lower() == ENDPOINT_LOGS_SETTING), None)
    old = endpoint_logs_value(mine)
    field_name = f"diagnosticSettings/{ENDPOINT_LOGS_SETTING}"
    if not options.v2.endpoint_logs:
        if mine is None:
            result.status = "unchanged"
            return
        result.changes = [Change(field_name, old, None)]
        if not options.dry_run:
            step.before_write()
            ds.delete_setting(ws.arm, endpoint_id, mine.name)
        result.status = "would-change" if options.dry_run else "changed"
        return
    destination = _destination(ws, options)
    new = {"categories": list(ENDPOINT_LOG_CATEGORIES), "workspaceId": destination}
    if (
        old is not None
        and old["categories"] == new["categories"]
        and str(old["workspaceId"]).lower() == destination.lower()
    ):
        result.status = "unchanged"
        return
    if mine is None and len(settings) >= ds.MAX_SETTINGS:
        raise OperationFailed(
            f"endpoint {item.target} already has {len(settings)} diagnostic settings, the most Azure allows; "
            "amlmon changes none of them",
            hint="remove one you no longer need, then run again",
        )
    result.changes = [Change(field_name, old, new)]
    if options.dry_run:
        result.status = "would-change"
        return
    step.before_write()
    logs = [{"category": category, "enabled": True} for category in ENDPOINT_LOG_CATEGORIES]
    ds.put_setting(ws.arm, endpoint_id, ENDPOINT_LOGS_SETTING, {"workspaceId": destination, "logs": logs})
    result.status = "changed"


def _destination(ws: Workspace, options: Options) -> str:
    """--log-analytics-workspace, else the Log Analytics workspace of the workspace's App Insights."""
    destination = options.v2.log_analytics_workspace or ws.log_analytics_id()
    if not destination:
        raise UsageError(
            "the workspace's Application Insights has no Log Analytics workspace to send endpoint logs to",
            hint="name one with --log-analytics-workspace RESOURCE_ID",
        )
    return str(destination)


def endpoint_logs_value(setting: Any) -> dict[str, Any] | None:
    """amlmon's setting as a plan shows it (its categories and workspace), None when there is none."""
    if setting is None:
        return None
    categories = [c for c in ENDPOINT_LOG_CATEGORIES if c in setting.categories]
    return {"categories": categories, "workspaceId": setting.properties.get("workspaceId")}
