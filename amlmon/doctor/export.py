"""Export checks: amlmon's diagnostic setting on the component, its storage region, recent delivery."""

from __future__ import annotations

import datetime as dt
from typing import Any

from amlmon.doctor.findings import WORKSPACE, Finding, Sources, instant_and_age
from amlmon.doctor.workspace import Linked
from amlmon.errors import AmlmonError

# Diagnostic settings deliver hourly blobs within minutes; three hours without one means it stopped.
STALE_DELIVERY = dt.timedelta(hours=3)
STORAGE_API = "2023-01-01"


def check_export(sources: Sources, linked: Linked, now: dt.datetime) -> list[Finding]:
    from amlmon.azure.diagnostic_settings import is_amlmon_setting

    if linked.component is None or linked.component_id is None:
        return [Finding("export.setting", WORKSPACE, "skip", "no Application Insights component")]
    try:
        settings = [s for s in sources.diagnostic_settings(linked.component_id) if is_amlmon_setting(s.name)]
    except AmlmonError as exc:
        return [
            Finding("export.setting", WORKSPACE, "skip", f"cannot list diagnostic settings: {exc.message}")
        ]
    if not settings:
        return [
            Finding(
                "export.setting",
                WORKSPACE,
                "skip",
                "no amlmon export setting on the component (telemetry is kept only for its retention)",
                "amlmon export enable --storage-account NAME",
            )
        ]
    found: list[Finding] = []
    for setting in settings:
        found += _setting_findings(sources, linked, setting, now)
    return found


def _setting_findings(sources: Sources, linked: Linked, setting: Any, now: dt.datetime) -> list[Finding]:
    """One amlmon setting: what it sends, where its storage account is, and what was delivered."""
    from amlmon.azure.diagnostic_settings import same_region

    found = [
        Finding(
            "export.setting",
            WORKSPACE,
            "ok",
            f"{setting.name}: {', '.join(setting.categories) or 'no tables'}",
        )
    ]
    if not setting.storage_account_id:
        return found
    account = sources.arm_get(setting.storage_account_id, STORAGE_API)
    location = (linked.component or {}).get("location")
    if account is None:
        found.append(
            Finding(
                "export.storage-region",
                WORKSPACE,
                "fail",
                f"{setting.name}: destination storage account {setting.storage_account_id} does not exist",
                "amlmon export enable --storage-account NAME  (an existing account in the component's region)",
            )
        )
        return found
    if same_region(account.get("location"), location):
        found.append(
            Finding(
                "export.storage-region",
                WORKSPACE,
                "ok",
                f"{account.get('name')} in {account.get('location')}",
            )
        )
    else:
        found.append(
            Finding(
                "export.storage-region",
                WORKSPACE,
                "fail",
                f"{account.get('name')} is in {account.get('location')}, the component in {location}: "
                "Azure delivers only to a storage account in the resource's region",
                f"amlmon export enable --name {setting.name} --storage-account <account in {location}>",
            )
        )
    found.append(_delivery(sources, setting, now))
    return found


def _delivery(sources: Sources, setting: Any, now: dt.datetime) -> Finding:
    """The newest exported hour per table; none at all, or none for hours, means delivery stopped."""
    delivered = sources.delivered(setting)
    if "error" in delivered:
        return Finding("export.delivery", WORKSPACE, "skip", f"blobs not readable: {delivered['error']}")
    parts, newest = [], None
    for category in setting.categories:
        info = delivered.get(f"insights-logs-{category.lower()}")
        hour = _parse_hour(info.get("newest")) if info else None
        parts.append(f"{category}: newest hour {info['newest']}" if info else f"{category}: no blobs yet")
        if hour is not None and (newest is None or hour > newest):
            newest = hour
    evidence = "; ".join(parts)
    if newest is None:
        return Finding(
            "export.delivery",
            WORKSPACE,
            "warn",
            f"nothing delivered yet ({evidence})",
            "delivery starts minutes after the setting and the first rows; check again later",
        )
    if now - newest > STALE_DELIVERY:
        return Finding(
            "export.delivery",
            WORKSPACE,
            "warn",
            f"newest delivered hour is {instant_and_age(newest, now)}: delivery stopped? ({evidence})",
            "amlmon export show --delivery; check the storage account's firewall and keys",
        )
    return Finding("export.delivery", WORKSPACE, "ok", evidence)


def _parse_hour(text: Any) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
