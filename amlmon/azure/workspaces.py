"""AML workspace → linked Application Insights component → its Log Analytics workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from amlmon.errors import ConfigError, NotFound, WorkspaceNotFound

if TYPE_CHECKING:
    from amlmon.azure.arm import ArmClient
    from amlmon.resolve import WorkspaceRef

COMPONENT_API = "2020-02-02"
LOG_ANALYTICS_API = "2023-09-01"


@dataclass(frozen=True)
class WorkspaceInfo:
    subscription: str
    resource_group: str
    name: str
    id: str
    location: str | None
    discovery_url: str | None
    app_insights_id: str | None
    app_id: str | None = None
    workspace_based: bool | None = None
    ingestion_mode: str | None = None
    log_analytics_id: str | None = None
    log_analytics_customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def require_app_insights(self) -> str:
        """The component's resource ID, or a ConfigError saying how to link one."""
        if not self.app_insights_id:
            raise ConfigError(
                f"workspace {self.name!r} has no linked Application Insights resource",
                hint="link one in the Azure portal (workspace → Overview → Application Insights) or with "
                "`az ml workspace update --application-insights <resource-id>`",
            )
        return self.app_insights_id

    def require_log_analytics(self) -> str:
        """The Log Analytics workspace customer ID, or a ConfigError for a classic component."""
        if not self.log_analytics_customer_id:
            raise ConfigError(
                f"the Application Insights resource of {self.name!r} is not workspace-based",
                hint="query through App Insights instead (drop --log-analytics), or migrate the component "
                "to a workspace-based resource",
            )
        return self.log_analytics_customer_id


def describe_workspace(ref: WorkspaceRef, ml_client: Any, arm: Callable[[], ArmClient]) -> WorkspaceInfo:
    """The workspace `ref` names (read with the ML management client) and, through ARM (built only when
    the workspace has a component), its App Insights component and Log Analytics workspace."""
    from azure.core.exceptions import ResourceNotFoundError

    sub, rg, name = str(ref.subscription.value), str(ref.resource_group.value), str(ref.workspace.value)
    try:
        workspace = ml_client.workspaces.get(rg, name)
    except ResourceNotFoundError as exc:
        raise WorkspaceNotFound(
            f"workspace {name!r} not found in resource group {rg!r} of subscription {sub}: {_first_line(exc)}",
            hint="check -g/-w and --subscription (`amlmon workspace show` prints where each came from)",
        ) from None
    app_insights_id = workspace.application_insights or None
    info = WorkspaceInfo(
        subscription=sub,
        resource_group=rg,
        name=name,
        id=workspace.id or ref.resource_id,
        location=workspace.location,
        discovery_url=workspace.discovery_url,
        app_insights_id=app_insights_id,
    )
    if not app_insights_id:
        return info
    return _with_component(arm(), info, app_insights_id)


def _with_component(arm: ArmClient, info: WorkspaceInfo, component_id: str) -> WorkspaceInfo:
    from azure.core.exceptions import ResourceNotFoundError

    from amlmon.azure.paths import resource_path

    try:
        component = arm.get_json(resource_path(component_id), COMPONENT_API)
    except ResourceNotFoundError:
        raise NotFound(
            f"the workspace's Application Insights resource {component_id} does not exist",
            hint="link an existing Application Insights resource to the workspace",
        ) from None
    props = component.get("properties") or {}
    la_id = props.get("WorkspaceResourceId") or None
    customer_id = None
    if la_id:
        la = arm.get_json(resource_path(la_id), LOG_ANALYTICS_API)
        customer_id = (la.get("properties") or {}).get("customerId")
    return WorkspaceInfo(
        **{
            **info.to_dict(),
            "app_id": props.get("AppId"),
            "workspace_based": bool(la_id),
            "ingestion_mode": props.get("IngestionMode"),
            "log_analytics_id": la_id,
            "log_analytics_customer_id": customer_id,
        }
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
