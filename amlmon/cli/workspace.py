"""`amlmon workspace show`: the resolved workspace, where each value came from, and its linked resources."""

from __future__ import annotations

from typing import Any

import typer

from amlmon.cli.common import app_context, output

workspace_app = typer.Typer(help="The Azure ML workspace amlmon works on.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(workspace_app, name="workspace")


@workspace_app.command("show")
def show() -> None:
    """Show the resolved workspace (with where each value came from) and its linked resources."""
    from amlmon.errors import NotFound

    ctx = app_context()
    ref = ctx.workspace
    resolved: dict[str, Any] = {
        "subscription": ref.subscription.value,
        "subscriptionSource": ref.subscription.source,
        "resourceGroup": ref.resource_group.value,
        "resourceGroupSource": ref.resource_group.source,
        "workspace": ref.workspace.value,
        "workspaceSource": ref.workspace.source,
    }
    try:
        info = ctx.workspace_info
    except NotFound as exc:
        # Where each value came from is what tells which one is wrong: print it, then the error.
        output({**resolved, "cloud": ctx.cloud.name})
        raise NotFound(
            exc.message,
            hint="the values above say where each came from; fix the wrong one there, or override it "
            "with --subscription, -g or -w",
        ) from None
    result: dict[str, Any] = {
        **resolved,
        "id": info.id,
        "location": info.location,
        "discoveryUrl": info.discovery_url,
        "cloud": ctx.cloud.name,
        "appInsights": {
            "id": info.app_insights_id,
            "appId": info.app_id,
            "workspaceBased": info.workspace_based,
            "ingestionMode": info.ingestion_mode,
        },
        "logAnalytics": {"id": info.log_analytics_id, "customerId": info.log_analytics_customer_id},
    }
    output(result)
