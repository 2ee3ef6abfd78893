"""Long-term export: amlmon's diagnostic setting on the App Insights component, and what it delivered.

Update rules: existing fields of a setting are kept as returned, destinations and tables replaced; an
identical setting is left alone; a setting amlmon did not create (its name does not start `amlmon`) is
replaced only when forced; a create that Azure's per-resource limit would refuse fails in a dry run too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amlmon.errors import NotFound, OperationFailed, UsageError

RETIRED = (
    "classic continuous export is retired (configurations no longer deliver data); its replacement is a "
    "diagnostic setting"
)
DESTINATION_KEYS = ("storageAccountId", "workspaceId", "eventHubAuthorizationRuleId", "eventHubName")


@dataclass
class Access:
    """What export reads and writes through; the CLI builds it from its context."""

    arm: Any  # amlmon.azure.arm.ArmClient
    resource_group_id: str  # /subscriptions/{sub}/resourceGroups/{rg}: where a bare account name is
    appinsights: Callable[[], Any]  # the App Insights management client (retired continuous export)
    blob_source: Callable[[str, tuple[str, ...]], Any]  # (blob endpoint, containers) → BlobSource


@dataclass
class EnableRequest:
    """`export enable`'s options, checked: the setting's name, its tables and destinations."""

    name: str
    categories: list[str]
    destinations: Any  # amlmon.azure.diagnostic_settings.Destinations
    storage_account: str | None
    force: bool
    dry_run: bool


def enable_request(
    *,
    name: str,
    tables: str | None,
    storage_account: str | None,
    log_analytics: str | None,
    event_hub_rule: str | None,
    event_hub: str | None,
    force: bool,
    dry_run: bool,
    classic: bool,
) -> EnableRequest:
    """Usage errors before anything is read: retired continuous export, names, tables, resource ids."""
    from amlmon.azure import diagnostic_settings as ds

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
    return EnableRequest(name, categories, destinations, storage_account, force, dry_run)


def desired_properties(
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


def same_setting(existing: Any, wanted: dict[str, Any]) -> bool:
    """Whether the setting read already sends the wanted tables to the wanted destinations."""
    if existing is None:
        return False
    have = existing.properties
    if any((have.get(k) or "").lower() != (wanted.get(k) or "").lower() for k in DESTINATION_KEYS):
        return False
    return sorted(existing.categories, key=str.lower) == sorted(
        (log["category"] for log in wanted["logs"]), key=str.lower
    )


def enable(
    azure: Access, component: str, request: EnableRequest, warn: Callable[[str], None]
) -> dict[str, Any]:
    """Create or update the setting (or say what would be written); the document `export enable` prints."""
    from amlmon.azure import diagnostic_settings as ds

    destinations, name = request.destinations, request.name
    account = None
    if request.storage_account:
        account = ds.resolve_storage_account(azure.arm, azure.resource_group_id, request.storage_account)
        destinations.storage_account_id = account.id
    if not destinations.any():
        raise UsageError(
            "no destination", hint="give --storage-account NAME (and/or --event-hub-rule, --log-analytics)"
        )
    existing = ds.get_setting(azure.arm, component, name)
    wanted = desired_properties(existing.properties if existing else None, destinations, request.categories)
    location = ds.component_location(azure.arm, component)
    if account is not None:
        _check_region(account, location, request.dry_run, warn)
    result = _described(name, component, request.categories, destinations)
    if same_setting(existing, wanted):  # nothing is written: a rerun is `unchanged`, whoever made it
        return {**result, "action": "unchanged"}
    if existing is not None and not ds.is_amlmon_setting(name) and not request.force:
        raise OperationFailed(
            f"diagnostic setting {name!r} on the component was not created by amlmon; leaving it as it is",
            hint=f"pick another --name (amlmon's are named amlmon…), or add --force to replace {name!r}",
        )
    if existing is None and not ds.is_amlmon_setting(name):
        # settings carry no tags: amlmon knows its own by the name alone
        warn(
            f"{name!r} is not named amlmon…: amlmon will take it for another's setting, and change it again "
            "only with --force"
        )
    action = "update" if existing is not None else "create"
    if request.dry_run:
        if action == "create":
            predict_limit_refusal(azure, component)
        return {**result, "action": action, "dryRun": True, "body": {"properties": wanted}}
    ds.put_setting(azure.arm, component, name, wanted)
    return {**result, "action": "created" if action == "create" else "updated"}


def _check_region(account: Any, location: str | None, dry_run: bool, warn: Callable[[str], None]) -> None:
    """Azure accepts a storage destination only in the resource's region: an error, a warning in a dry run."""
    from amlmon.azure.diagnostic_settings import same_region

    if same_region(account.location, location):
        return
    message = (
        f"storage account {account.name!r} is in {account.location} but the App Insights component is in "
        f"{location}; Azure only accepts a storage destination in the resource's region"
    )
    if not dry_run:
        raise UsageError(message, hint=f"use (or create) a storage account in {location}")
    warn(message)


def _described(name: str, component: str, categories: list[str], destinations: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": name,
        "resourceId": component,
        "categories": categories,
        "storageAccountId": destinations.storage_account_id,
        "workspaceId": destinations.workspace_id,
        "eventHubAuthorizationRuleId": destinations.event_hub_rule_id,
        "eventHubName": destinations.event_hub_name,
    }
    return {key: value for key, value in result.items() if value is not None}


def predict_limit_refusal(azure: Access, component: str) -> None:
    """A dry-run create fails (exit 1) the way the real one would when the component is at Azure's limit."""
    from amlmon.azure import diagnostic_settings as ds

    count = len(ds.list_settings(azure.arm, component))
    if count >= ds.MAX_SETTINGS:
        raise OperationFailed(
            f"dry run: Azure would refuse: the component already has {count} diagnostic settings, "
            f"the most a resource may have ({ds.MAX_SETTINGS})",
            hint="remove one (`amlmon export show` lists them, `amlmon export disable --name NAME`), "
            "or reuse one with --name NAME --force",
        )


def disable(
    azure: Access, component: str, name: str, dry_run: bool, *, must_exist: bool = False
) -> dict[str, Any]:
    """Delete the named setting (the name was checked); `absent` when there is none, or, when the user
    named it (`must_exist`), not found (exit 3) with the settings that do exist as did-you-mean."""
    from amlmon.azure import diagnostic_settings as ds

    existing = ds.get_setting(azure.arm, component, name)
    if existing is None and must_exist:
        raise _no_setting(azure, component, name)
    if existing is None:
        return {"name": name, "action": "absent"}
    if dry_run:
        return {"name": name, "action": "delete", "dryRun": True}
    ds.delete_setting(azure.arm, component, name)
    return {"name": name, "action": "deleted"}


def _no_setting(azure: Access, component: str, name: str) -> NotFound:
    from amlmon.azure import diagnostic_settings as ds
    from amlmon.targets import suggest

    names = [setting.name for setting in ds.list_settings(azure.arm, component)]
    close = suggest(name, names) or names[:3]
    return NotFound(
        f"no diagnostic setting named {name!r} on the App Insights component",
        hint=(f"did you mean {' or '.join(close)}?" if close else "the component has no diagnostic settings")
        + "; add --if-exists when an absent setting is fine",
    )


def show(azure: Access, component: str, delivery: bool) -> dict[str, Any]:
    """Every setting on the component, the limit, retired continuous exports, and (asked) what was delivered."""
    from amlmon.azure import diagnostic_settings as ds

    settings = ds.list_settings(azure.arm, component)
    classic = ds.classic_exports(azure.appinsights(), component)
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
                entry["delivered"] = delivered(azure, setting)
    return result


def delivered(azure: Access, setting: Any) -> dict[str, Any]:
    """Per category: blobs found and the newest hour folder, or why it could not be read."""
    from amlmon.azure import diagnostic_settings as ds
    from amlmon.errors import AmlmonError

    try:
        account = ds.resolve_storage_account(azure.arm, azure.resource_group_id, setting.storage_account_id)
        if not account.blob_endpoint:
            return {"error": "the storage account has no blob endpoint"}
        containers = tuple(f"insights-logs-{c.lower()}" for c in setting.categories)
        return _newest_hours(azure.blob_source(account.blob_endpoint, containers))
    except AmlmonError as exc:
        return {"error": exc.message}
    except Exception as exc:  # delivery is extra information: never fail `show` over it
        from amlmon.redact import redact

        return {"error": redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")}


def _newest_hours(source: Any) -> dict[str, Any]:
    """Blobs per container and the newest hour folder among their names."""
    from amlmon.extract import blob_hour

    found: dict[str, dict[str, Any]] = {}
    try:
        for container, name in source.blobs():
            hour = blob_hour(name)
            entry = found.setdefault(container, {"blobs": 0, "newest": None})
            entry["blobs"] += 1
            if hour is not None and (entry["newest"] is None or hour.isoformat() > entry["newest"]):
                entry["newest"] = hour.isoformat()
    finally:
        source.close()
    return found
