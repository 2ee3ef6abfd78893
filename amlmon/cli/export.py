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

RETIRED = (
    "classic continuous export is retired (configurations no longer deliver data); its replacement is a "
    "diagnostic setting"
)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


def _component() -> str:
    return str(app_context().workspace_info.require_app_insights())


def _desired_properties(
    existing: dict[str, Any] | None, destinations: Any, categories: list[str]
) -> dict[str, Any]:
    """The setting's properties: existing fields kept as returned, destinations and logs replaced."""
    props = dict(existing or {})
    for key, value in (
        ("storageAccountId", destinations.storage_account_id),
        ("workspaceId", destinations.workspace_id),
        ("eventHubAuthorizationRuleId", destinations.event_hub_rule_id),
        ("eventHubName", destinations.event_hub_name),
    ):
        if value:
            props[key] = value
    props["logs"] = [{"category": category, "enabled": True} for category in categories]
    props.setdefault("metrics", [])
    return props


def _same(existing: Any, wanted: dict[str, Any]) -> bool:
    if existing is None:
        return False
    have = existing.properties
    keys = ("storageAccountId", "workspaceId", "eventHubAuthorizationRuleId", "eventHubName")
    if any((have.get(k) or "").lower() != (wanted.get(k) or "").lower() for k in keys):
        return False
    return sorted(existing.categories, key=str.lower) == sorted(
        (log["category"] for log in wanted["logs"]), key=str.lower
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
    from amlmon.azure import diagnostic_settings as ds
    from amlmon.errors import OperationFailed, UsageError

    if classic:
        raise UsageError(RETIRED, hint="run `amlmon export enable --storage-account NAME` instead")
    if event_hub and not event_hub_rule:
        raise UsageError(
            "--event-hub needs --event-hub-rule", hint="give the namespace authorization rule ID"
        )
    ds.check_name(name)
    categories = ds.parse_categories(tables)
    destinations = ds.Destinations(
        workspace_id=log_analytics, event_hub_rule_id=event_hub_rule, event_hub_name=event_hub
    )
    ds.check_destination_ids(destinations)
    if storage_account:
        ds.check_storage_account(storage_account)
    ctx = app_context()
    component = _component()
    account = None
    if storage_account:
        account = ds.resolve_storage_account(ctx, storage_account)
        destinations.storage_account_id = account.id
    if not destinations.any():
        raise UsageError(
            "no destination", hint="give --storage-account NAME (and/or --event-hub-rule, --log-analytics)"
        )
    existing = ds.get_setting(ctx, component, name)
    if existing is not None and not ds.is_amlmon_setting(name) and not force:
        raise OperationFailed(
            f"diagnostic setting {name!r} on the component was not created by amlmon; leaving it as it is",
            hint=f"pick another --name (amlmon's are named amlmon…), or add --force to replace {name!r}",
        )
    wanted = _desired_properties(existing.properties if existing else None, destinations, categories)
    location = ds.component_location(ctx, component)
    if account is not None and not ds.same_region(account.location, location):
        message = (
            f"storage account {account.name!r} is in {account.location} but the App Insights component is in "
            f"{location}; Azure only accepts a storage destination in the resource's region"
        )
        if dry_run:
            warn(message)
        else:
            raise UsageError(message, hint=f"use (or create) a storage account in {location}")
    result: dict[str, Any] = {
        "name": name,
        "resourceId": component,
        "categories": categories,
        "storageAccountId": destinations.storage_account_id,
        "workspaceId": destinations.workspace_id,
        "eventHubAuthorizationRuleId": destinations.event_hub_rule_id,
        "eventHubName": destinations.event_hub_name,
    }
    result = {key: value for key, value in result.items() if value is not None}
    if _same(existing, wanted):
        output({**result, "action": "unchanged"})
        return
    action = "update" if existing is not None else "create"
    if dry_run:
        if action == "create":
            _predict_limit_refusal(ctx, component)
        output({**result, "action": action, "dryRun": True, "body": {"properties": wanted}})
        return
    ds.put_setting(ctx, component, name, wanted)
    output({**result, "action": "created" if action == "create" else "updated"})


def _predict_limit_refusal(ctx: Any, component: str) -> None:
    """A dry-run create fails (exit 1) the way the real one would when the component is at Azure's limit."""
    from amlmon.azure import diagnostic_settings as ds
    from amlmon.errors import OperationFailed

    count = len(ds.list_settings(ctx, component))
    if count >= ds.MAX_SETTINGS:
        raise OperationFailed(
            f"dry run: Azure would refuse: the component already has {count} diagnostic settings, "
            f"the most a resource may have ({ds.MAX_SETTINGS})",
            hint="remove one (`amlmon export show` lists them, `amlmon export disable --name NAME`), "
            "or reuse one with --name NAME --force",
        )


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
) -> None:
    """Delete amlmon's diagnostic setting, or the one named with --name (exported data stays).

    Without --name only amlmon's own `amlmon-export` is touched; naming a setting is consent to delete it.
    """
    from amlmon.azure import diagnostic_settings as ds

    name = ds.check_name(name if name is not None else ds.DEFAULT_NAME)
    ctx = app_context()
    component = _component()
    existing = ds.get_setting(ctx, component, name)
    if existing is None:
        output({"name": name, "action": "absent"})
        return
    if dry_run:
        output({"name": name, "action": "delete", "dryRun": True})
        return
    ds.delete_setting(ctx, component, name)
    output({"name": name, "action": "deleted"})


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
    from amlmon.azure import diagnostic_settings as ds

    ctx = app_context()
    component = _component()
    settings = ds.list_settings(ctx, component)
    classic = ds.classic_exports(ctx, component)
    result: dict[str, Any] = {
        "resourceId": component,
        "settings": [s.to_dict() for s in settings],
        "limit": ds.MAX_SETTINGS,
        "continuousExport": [
            {**c, "replacement": "amlmon export enable --storage-account NAME"} for c in classic
        ],
    }
    if delivery:
        for entry, setting in zip(result["settings"], settings, strict=True):
            if setting.storage_account_id:
                entry["delivered"] = _delivered(ctx, setting)
    if classic:
        warn(f"{len(classic)} {RETIRED}: run `amlmon export enable --storage-account NAME`")
    output(result, table=_render_show)


def _delivered(ctx: Any, setting: Any) -> Any:
    """Per category: blobs found and the newest hour folder, or why it could not be read."""
    from amlmon import modeldata
    from amlmon.azure import diagnostic_settings as ds
    from amlmon.azure.blobs import BlobSource
    from amlmon.errors import AmlmonError

    try:
        account = ds.resolve_storage_account(ctx, setting.storage_account_id)
        if not account.blob_endpoint:
            return {"error": "the storage account has no blob endpoint"}
        containers = tuple(f"insights-logs-{c.lower()}" for c in setting.categories)
        source = BlobSource(ctx, account.blob_endpoint, None, containers)
        found: dict[str, dict[str, Any]] = {}
        try:
            for container, name in source.blobs():
                hour = modeldata.blob_hour(name)
                entry = found.setdefault(container, {"blobs": 0, "newest": None})
                entry["blobs"] += 1
                if hour is not None and (entry["newest"] is None or hour.isoformat() > entry["newest"]):
                    entry["newest"] = hour.isoformat()
        finally:
            source.close()
        return found
    except AmlmonError as exc:
        return {"error": exc.message}
    except Exception as exc:  # delivery is extra information: never fail `show` over it
        from amlmon.redact import redact

        return {"error": redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")}


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
