"""`amlmon export enable|show|disable`: keep telemetry beyond App Insights retention.

Classic continuous export is retired; its replacement is a diagnostic setting on the workspace-based
App Insights component that streams chosen tables (AppTraces, AppRequests, …) to a storage account,
an Event Hub or another Log Analytics workspace. amlmon names its settings `amlmon…` (diagnostic
settings have no tags): it replaces a setting it did not create only with --force, and deletes one only
when it is named with --name.
"""

from __future__ import annotations

from typing import IO, Any

import typer

from amlmon.cli.common import app_context, output, warn

export_app = typer.Typer(
    help="Long-term export of telemetry: a diagnostic setting on the App Insights component.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


def _component() -> str:
    return str(app_context().workspace_info.require_app_insights())


def access(ctx: Any) -> Any:
    """export's Azure access, built from the context's clients (doctor reads delivery through it too)."""
    from amlmon.export import Access

    def blob_source(blob_endpoint: str, containers: tuple[str, ...]) -> Any:
        from amlmon.azure.blobs import BlobSource

        return BlobSource(ctx.session, blob_endpoint, None, containers)

    ref = ctx.workspace
    return Access(
        arm=ctx.arm,
        resource_group_id=f"/subscriptions/{ref.subscription.value}/resourceGroups/{ref.resource_group.value}",
        appinsights=lambda: ctx.appinsights_client,
        blob_source=blob_source,
    )


@export_app.command("enable")
def enable(
    storage_account: str | None = typer.Option(
        None,
        "--storage-account",
        help="Storage account name (in the workspace's resource group) or resource ID.",
    ),
    event_hub_rule: str | None = typer.Option(
        None, "--event-hub-rule", help="Event Hub namespace authorization rule resource ID."
    ),
    event_hub: str | None = typer.Option(None, "--event-hub", help="Event Hub name (with --event-hub-rule)."),
    log_analytics: str | None = typer.Option(
        None, "--log-analytics", help="Another Log Analytics workspace resource ID to copy the tables to."
    ),
    tables: str | None = typer.Option(
        None,
        "--tables",
        help="Tables to export, comma-separated, or all [default: AppTraces,AppRequests,AppDependencies,AppExceptions].",
        show_default=False,
    ),
    name: str = typer.Option("amlmon-export", "--name", help="Diagnostic setting name."),
    force: bool = typer.Option(
        False, "--force", help="Replace a setting of this name that amlmon did not create."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the setting that would be written; change nothing."
    ),
    classic: bool = typer.Option(False, "--continuous-export", hidden=True),
) -> None:
    """Create or update the diagnostic setting that streams telemetry tables to long-term storage.

    Idempotent: an identical setting is left alone. Azure allows 5 settings per resource, and
    storage / Event Hub destinations in the component's region only.
    """
    from amlmon import export

    request = export.enable_request(
        name=name,
        tables=tables,
        storage_account=storage_account,
        log_analytics=log_analytics,
        event_hub_rule=event_hub_rule,
        event_hub=event_hub,
        force=force,
        dry_run=dry_run,
        classic=classic,
    )
    ctx = app_context()
    output(export.enable(access(ctx), _component(), request, warn))


@export_app.command("disable")
def disable(
    name: str | None = typer.Option(
        None,
        "--name",
        help="Diagnostic setting name; naming it is consent to delete it. [default: amlmon-export]",
        show_default=False,
    ),
    force: bool = typer.Option(
        False, "--force", help="Accepted for scripts; naming the setting with --name is consent already."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted; change nothing."),
    if_exists: bool = typer.Option(
        False, "--if-exists", help="A --name that is not there is fine (action absent, exit 0), not exit 3."
    ),
) -> None:
    """Delete amlmon's diagnostic setting, or the one named with --name (exported data stays).

    Without --name only amlmon's own `amlmon-export` is touched; naming a setting is consent to delete it.
    A --name that is not there is exit 3 with the settings that are (--if-exists: exit 0).
    """
    from amlmon import export
    from amlmon.azure import diagnostic_settings as ds

    must_exist = name is not None and not if_exists
    name = ds.check_name(name if name is not None else ds.DEFAULT_NAME)
    ctx = app_context()
    output(export.disable(access(ctx), _component(), name, dry_run, must_exist=must_exist))


@export_app.command("show")
def show(
    delivery: bool = typer.Option(
        False,
        "--delivery",
        help="Also list what reached each storage destination (needs read access; "
        "$AZURE_STORAGE_CONNECTION_STRING or Storage Blob Data Reader).",
    ),
) -> None:
    """Every diagnostic setting on the component (what goes where), and any retired continuous export."""
    from amlmon import export

    ctx = app_context()
    result = export.show(access(ctx), _component(), delivery)
    classic = result["continuousExport"]
    if classic:
        warn(f"{len(classic)} {export.RETIRED}: run `amlmon export enable --storage-account NAME`")
    output(result, table=_render_show)


def _render_show(data: Any, stream: IO[str]) -> None:
    from amlmon.render.console import make_console

    console = make_console(stream, no_color=app_context().options.no_color)
    settings = data.get("settings") or []
    console.print(f"{len(settings)} of {data.get('limit')} diagnostic settings on {data.get('resourceId')}")
    for s in settings:
        owner = "amlmon" if s.get("createdByAmlmon") else "not amlmon"
        console.print(f"- {s['name']} ({owner}): {', '.join(s.get('categories') or []) or 'no tables'}")
        for label, key in (
            ("storage", "storageAccountId"),
            ("log analytics", "workspaceId"),
            ("event hub", "eventHubAuthorizationRuleId"),
        ):
            if s.get(key):
                console.print(f"    → {label}: {s[key]}")
        delivered = s.get("delivered")
        if isinstance(delivered, dict):
            if "error" in delivered:
                console.print(f"    delivery: unknown ({delivered['error']})")
            for container, info in sorted(delivered.items()):
                if container != "error":
                    console.print(
                        f"    delivered: {container}: {info['blobs']} blobs, newest {info['newest']}"
                    )
    for c in data.get("continuousExport") or []:
        console.print(
            f"- continuous export {c.get('exportId')} → {c.get('containerName')}: RETIRED, delivers nothing; "
            f"replace with `{c['replacement']}`"
        )
