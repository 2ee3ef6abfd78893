"""Reading the workspace: v1 services, v2 endpoints and deployments, their data assets and endpoint logs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from amlmon.diagnostics.inventory import (
    Item,
    as_dict,
    collector_summary,
    deployment_item,
    endpoint_logs_summary,
    endpoint_row,
    service_item,
)
from amlmon.diagnostics.resolution import Resolution, resolve
from amlmon.errors import UsageError
from amlmon.targets import parse_targets

if TYPE_CHECKING:
    from amlmon.context import AppContext


class Workspace:
    """The workspace's clients for one command run, composed from the context and built lazily:
    the model-management API (v1), ARM for v2 deployments, data assets and diagnostic settings."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self.unlisted: list[str] = []  # endpoints whose deployments could not be listed (404)
        self._mms: Any = None
        self._lock = threading.Lock()

    @property
    def mms(self) -> Any:
        with self._lock:
            if self._mms is None:
                from amlmon.azure.services_v1 import ModelManagementClient

                self._mms = ModelManagementClient(self._ctx.session, self._ctx.workspace_info)
            return self._mms

    @cached_property
    def v2(self) -> Any:
        """amlmon.azure.deployments_v2.Scope: ARM and this workspace's resource ID."""
        from amlmon.azure.deployments_v2 import Scope

        workspace_id = str(self._ctx.workspace.resource_id)  # a missing workspace is said before any sign-in
        return Scope(self._ctx.arm, workspace_id)

    @property
    def arm(self) -> Any:
        return self.v2.arm

    def log_analytics_id(self) -> str | None:
        """The Log Analytics workspace of the workspace's App Insights (endpoint logs go there)."""
        value = self._ctx.workspace_info.log_analytics_id
        return str(value) if value else None

    def inventory(
        self, *, v1: bool = True, v2: bool = True, endpoints: set[str] | None = None, details: bool = False
    ) -> list[Item]:
        """Every v1 service and v2 deployment (v2 deployments only of `endpoints`, when given).

        `details`: also read whether each collection's data asset exists and the endpoints' diagnostic
        settings (what `services list` and `diagnostics status` show).
        """
        items: list[Item] = []
        if v1:
            items += [service_item(service) for service in self.mms.list_services()]
        if v2:
            items += self._v2_items(endpoints, details)
        return items

    def _v2_items(self, endpoints: set[str] | None, details: bool) -> list[Item]:
        from amlmon.azure import deployments_v2 as v2api

        items: list[Item] = []
        for endpoint in v2api.list_endpoints(self.v2):
            name = str(endpoint.get("name"))
            if endpoints is not None and name.lower() not in endpoints:
                items.append(endpoint_row(name, "v2-endpoint"))
                continue
            deployments = self._deployments_of(name)
            logs = self._endpoint_logs(name) if details and deployments else None
            for deployment in deployments:
                assets = self._assets(deployment) if details else None
                items.append(deployment_item(endpoint, deployment, assets, logs))
        return items

    def _endpoint_logs(self, endpoint: str) -> dict[str, Any]:
        from amlmon.azure import deployments_v2 as v2api
        from amlmon.azure import diagnostic_settings as ds

        return endpoint_logs_summary(ds.list_settings(self.arm, v2api.endpoint_path(self.v2, endpoint)))

    def _assets(self, deployment: dict[str, Any]) -> dict[str, bool]:
        """dataId (lower-case) → whether that data asset exists."""
        from amlmon.azure import deployments_v2 as v2api

        collector = collector_summary(as_dict(deployment.get("properties")).get("dataCollector"))
        found: dict[str, bool] = {}
        for spec in collector["collections"].values():
            data_id = spec.get("dataId")
            if data_id and str(data_id).startswith("/subscriptions/"):
                found[str(data_id).lower()] = v2api.data_asset_exists(self.v2, str(data_id))
        return found

    def _deployments_of(self, endpoint: str) -> list[dict[str, Any]]:
        """An endpoint's deployments; one that vanished after the endpoint list is noted, not fatal."""
        from azure.core.exceptions import ResourceNotFoundError

        from amlmon.azure import deployments_v2 as v2api

        try:
            return v2api.list_deployments(self.v2, endpoint)
        except ResourceNotFoundError:
            self.unlisted.append(endpoint)
            return []

    def close(self) -> None:
        if self._mms is not None:
            self._mms.close()


def collect(
    ws: Workspace,
    texts: Sequence[str],
    *,
    all_targets: bool,
    kinds: set[str],
    name_glob: str | None,
    details: bool = False,
) -> Resolution:
    """Resolve TARGET… / --all against the workspace; unknown targets carry did-you-mean suggestions."""
    targets = parse_targets(texts)
    if not targets and not all_targets:
        raise UsageError("no target given", hint="name services / endpoint[/deployment]s, or use --all")
    need_v1 = not targets or any(t.deployment is None for t in targets)
    if kinds and not kinds & {"ACI", "AKS"}:
        need_v1 = False
    need_v2 = not kinds or bool(kinds & {"Managed", "Kubernetes"})
    wanted_endpoints = None if not targets else {t.name.lower() for t in targets}
    inventory = ws.inventory(v1=need_v1, v2=need_v2, endpoints=wanted_endpoints, details=details)
    resolution = resolve(targets, inventory, kinds=kinds, name_glob=name_glob)
    # Placeholder rows for endpoints whose deployments were not listed only serve did-you-mean.
    resolution.items = [item for item in resolution.items if item.api in ("v1", "v2")]
    return resolution


def unlisted_warnings(ws: Workspace) -> list[str]:
    """One line per endpoint whose deployments 404'd while listing (the other targets go on)."""
    return [
        f"endpoint {endpoint!r}: its deployments could not be listed (not found; deleted meanwhile?); "
        "the other targets are listed"
        for endpoint in ws.unlisted
    ]
