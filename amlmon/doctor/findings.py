"""What every doctor check shares: the `Finding` it returns, the `Sources` it reads, the `Report`,
and the small pure helpers that word evidence (resource names, ingestion times, windows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")
WORKSPACE = "-"  # the target column of workspace-wide checks


@dataclass(frozen=True)
class Finding:
    check: str
    target: str
    status: Status
    evidence: str
    fix: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "target": self.target,
            "status": self.status,
            "evidence": self.evidence,
            "fix": self.fix,
        }


@dataclass
class Sources:
    """What doctor reads, as callables (the CLI binds them to its SDK clients)."""

    arm_get: Callable[[str, str], dict[str, Any] | None]  # (resource id, api-version) → body; None: 404
    services: Callable[[], list[dict[str, Any]]]  # v1 services, expanded
    deployments: Callable[[], list[tuple[dict[str, Any], dict[str, Any]]]]  # (endpoint, deployment)
    query: Callable[[str, dt.timedelta], list[dict[str, Any]]]  # (kql, window) → rows (App Insights route)
    diagnostic_settings: Callable[[str], list[Any]]  # resource id → amlmon.azure.diagnostic_settings.Setting
    delivered: Callable[[Any], dict[str, Any]]  # Setting → {container: {blobs, newest}} or {"error": …}
    # (kql, window) → rows, on the component's Log Analytics workspace (the endpoint log tables)
    log_query: Callable[[str, dt.timedelta], list[dict[str, Any]]] | None = None
    # (resource id, metric names, start, end, $filter) → the Metrics_List answer (SDK attribute names)
    metrics: Callable[[str, Sequence[str], dt.datetime, dt.datetime, str | None], dict[str, Any]] | None = (
        None
    )


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for f in self.findings if f.status == status) for status in STATUSES}


def switch(check: str, target: str, on: Any, seen: str, off: tuple[Status, str, str]) -> Finding:
    """A setting that should be on: `ok` with what was seen, else `off` (status, evidence, the fix)."""
    if on:
        return Finding(check, target, "ok", seen)
    status, evidence, fix = off
    return Finding(check, target, status, evidence, fix)


def arm_properties(body: dict[str, Any] | None) -> dict[str, Any]:
    """An ARM body's `properties` ({} when absent or not an object)."""
    value = (body or {}).get("properties")
    return value if isinstance(value, dict) else {}


def truthy(value: Any) -> bool:
    """ARM's booleans, sent as true or as the string "true"."""
    return value is True or str(value).lower() == "true"


def name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def rg_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[3] if len(parts) > 3 else "RG"


def instant_and_age(value: Any, now: dt.datetime) -> str:
    """`2026-11-30T10:01:02Z (12 min ago)` for an ingestion time."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    minutes = max(0, int((now - value).total_seconds() // 60))
    ago = f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
    return f"{value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} ({ago})"


def window_text(window: dt.timedelta) -> str:
    """`24h`, `1.5h`, `10m`; a window that is no whole number of minutes in seconds (`--since 30s` once
    read "in the last 0m")."""
    seconds = window.total_seconds()
    hours = seconds / 3600
    if hours >= 1:
        return f"{hours:g}h"
    return f"{int(seconds // 60)}m" if seconds % 60 == 0 else f"{seconds:g}s"
