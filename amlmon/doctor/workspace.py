"""Workspace checks: the linked App Insights component, workspace-based ingestion, its Log Analytics workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amlmon.doctor.findings import WORKSPACE, Finding, Sources, arm_properties, name_of, rg_of
from amlmon.errors import AmlmonError, NotFound

ML_API = "2024-04-01"
COMPONENT_API = "2020-02-02"
LOG_ANALYTICS_API = "2023-09-01"


@dataclass
class Linked:
    """The workspace's linked resources, as far as they could be read."""

    workspace: dict[str, Any]
    component_id: str | None = None
    component: dict[str, Any] | None = None
    log_analytics: dict[str, Any] | None = None
    billing: dict[str, Any] | None = None  # the component's …/currentbillingfeatures (its own daily cap)
    quota: dict[str, Any] | None = None  # the component's …/quotastatus (throttled by that cap now?)


def check_workspace(sources: Sources, workspace_id: str) -> tuple[list[Finding], Linked]:
    workspace = sources.arm_get(workspace_id, ML_API)
    if workspace is None:
        raise NotFound(
            f"workspace {name_of(workspace_id)} not found",
            hint="check -g/-w and --subscription (`amlmon workspace show` prints where each came from)",
        )
    linked = Linked(workspace)
    found: list[Finding] = []
    ws_name, rg = name_of(workspace_id), rg_of(workspace_id)
    component_id = arm_properties(workspace).get("applicationInsights") or None
    if not component_id:
        found.append(
            Finding(
                "workspace.app-insights",
                WORKSPACE,
                "fail",
                f"workspace {ws_name} has no linked Application Insights resource: no telemetry goes anywhere",
                f"az ml workspace update -n {ws_name} -g {rg} --application-insights <component-resource-id>",
            )
        )
        return found, linked
    linked.component_id = component_id
    linked.component = sources.arm_get(component_id, COMPONENT_API)
    if linked.component is None:
        found.append(
            Finding(
                "workspace.app-insights",
                WORKSPACE,
                "fail",
                f"the linked Application Insights resource {component_id} does not exist (deleted?)",
                f"az ml workspace update -n {ws_name} -g {rg} --application-insights <existing-component-id>",
            )
        )
        return found, linked
    found.append(
        Finding("workspace.app-insights", WORKSPACE, "ok", f"linked component {name_of(component_id)} exists")
    )
    found += _workspace_based(sources, linked)
    return found, linked


def _workspace_based(sources: Sources, linked: Linked) -> list[Finding]:
    props = arm_properties(linked.component)
    component = name_of(str(linked.component_id))
    rg = rg_of(str(linked.component_id))
    la_id = props.get("WorkspaceResourceId") or None
    mode = props.get("IngestionMode") or "unknown"
    if not la_id:
        return [
            Finding(
                "workspace.workspace-based",
                WORKSPACE,
                "warn",
                f"component {component} is classic (no WorkspaceResourceId, IngestionMode {mode}); classic "
                "resources are retired and `--log-analytics` queries cannot work",
                f"az monitor app-insights component update --app {component} -g {rg} "
                "--workspace <log-analytics-workspace-id>",
            ),
            Finding(
                "workspace.log-analytics", WORKSPACE, "skip", "no Log Analytics workspace (classic component)"
            ),
        ]
    based = Finding(
        "workspace.workspace-based",
        WORKSPACE,
        "ok",
        f"IngestionMode {mode}, Log Analytics workspace {name_of(la_id)}",
    )
    return [based, _log_analytics(sources, linked, la_id, component, rg)]


def _log_analytics(sources: Sources, linked: Linked, la_id: str, component: str, rg: str) -> Finding:
    """The component's Log Analytics workspace: readable, missing, or not readable by this identity."""
    try:
        linked.log_analytics = sources.arm_get(la_id, LOG_ANALYTICS_API)
    except AmlmonError as exc:
        return Finding(
            "workspace.log-analytics",
            WORKSPACE,
            "fail",
            f"cannot read Log Analytics workspace {name_of(la_id)}: {exc.message}",
            "ask for Log Analytics Reader on the workspace (or Reader on its resource group)",
        )
    if linked.log_analytics is None:
        return Finding(
            "workspace.log-analytics",
            WORKSPACE,
            "fail",
            f"the component's Log Analytics workspace {la_id} does not exist: ingestion has nowhere to go",
            f"az monitor app-insights component update --app {component} -g {rg} --workspace <existing-id>",
        )
    customer = arm_properties(linked.log_analytics).get("customerId")
    return Finding(
        "workspace.log-analytics", WORKSPACE, "ok", f"{name_of(la_id)} readable (customerId {customer})"
    )
