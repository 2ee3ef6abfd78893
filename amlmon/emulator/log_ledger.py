"""Endpoint-log rows and their destinations: the Log Analytics workspaces an endpoint's diagnostic
settings send a category to, the ingested rows, and a ledger of which resources have sent rows to which
workspace, recorded when the rows are ingested.

In Azure a row lives in the workspace it was ingested into until retention: removing an endpoint's
diagnostic setting (or relinking an App Insights component to another workspace) stops only new rows.
The emulator keeps one copy of a row keyed by its `_ResourceId`, and a workspace query's scope lists the
resources whose rows it may see; this ledger makes that scope include every resource that ever sent rows
to the workspace, not only those whose setting sends there today. Persisted beside the resources.

Known limit: a resource that sent to workspace A and later to B shows its later rows in A too (the
emulator does not keep a row per destination).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

LEDGER = "/_log_destinations"  # resources() key: {la workspace id: [resource ids]}, all lower-case


def remember(state: EmulatorState, resource_id: str, workspaces: Iterable[str]) -> None:
    """`resource_id` has rows ingested into each of `workspaces` (a no-op when already known)."""
    source = normalize_id(resource_id)
    with state.lock:
        ledger = state.resources.get(LEDGER) or {}
        changed = False
        for workspace in workspaces:
            sources = ledger.setdefault(normalize_id(workspace), [])
            if source not in sources:
                sources.append(source)
                changed = True
        if changed:
            state.resources.put(LEDGER, ledger)


def sources(state: EmulatorState, workspace_id: str) -> list[str]:
    """The resources that ever had rows ingested into this Log Analytics workspace."""
    return list((state.resources.get(LEDGER) or {}).get(normalize_id(workspace_id)) or [])


# --- diagnostic settings of an endpoint ------------------------------------------------------------


def _sends(setting: dict[str, Any], category: str) -> bool:
    for log in (setting.get("properties") or {}).get("logs") or []:
        if log.get("enabled") and (
            str(log.get("category") or "").lower() == category.lower()
            or log.get("categoryGroup") == "allLogs"
        ):
            return True
    return False


def log_destinations(state: EmulatorState, resource_id: str, category: str) -> list[str]:
    """Log Analytics workspace ids a resource's diagnostic settings send `category` to."""
    found = []
    for setting in state.diagnostic_settings.settings(resource_id):
        workspace = (setting.get("properties") or {}).get("workspaceId")
        if workspace and _sends(setting, category):
            found.append(str(workspace))
    return found


def diagnostic_sources(state: EmulatorState, la_id: str) -> list[dict[str, Any]]:
    """Online endpoints whose diagnostic settings send logs to this Log Analytics workspace: their rows
    are in the workspace (logs_api adds them to a workspace query's scope)."""
    wanted = normalize_id(la_id)
    current = [
        resource_id
        for resource_id, settings in state.diagnostic_settings.items()
        if "/onlineendpoints/" in resource_id
        and any(
            normalize_id(str((s.get("properties") or {}).get("workspaceId") or "x")) == wanted
            for s in settings
        )
    ]
    # Rows ingested while an endpoint's setting sent here stay after the setting is gone (log_ledger.py).
    past = [rid for rid in sources(state, la_id) if "/onlineendpoints/" in rid]
    return [{"id": resource_id} for resource_id in dict.fromkeys([*current, *past])]


def insert_row(state: EmulatorState, table: str, row: dict[str, Any]) -> None:
    """One ingested endpoint-log row; the workspaces the endpoint's settings send `table` to now are
    remembered as holding its rows (callers insert only when there is one)."""
    resource_id = str(row["_ResourceId"])
    remember(state, resource_id, log_destinations(state, resource_id, table))
    delay = state.number("ingestionDelay", 0.0)
    row["_ItemId"] = str(uuid.uuid4())
    row["_IngestionTime"] = utcnow() + dt.timedelta(seconds=delay)
    state.telemetry.insert_rows(table, [row])
