"""Telemetry without a name: rows whose role and service name match no known service or deployment."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from amlmon.doctor.findings import WORKSPACE, Finding
from amlmon.schema import APP, GENERIC_ROLE, SERVICE_DIMENSION

_AI = APP["app-insights"]
UNNAMED_QUERY = (
    f"union {_AI.requests}, {_AI.traces}, {_AI.exceptions}\n"
    f"| extend service = {_AI.dimension(SERVICE_DIMENSION)}\n"
    f"| summarize n = count() by role = {_AI.role}, service"
)


def check_unnamed(
    rows: list[dict[str, Any]] | None, error: str | None, known: Sequence[str], window: str
) -> Finding:
    """Rows whose role and service name match no known service, endpoint or deployment."""
    check = "telemetry.unnamed"
    if error is not None:
        return Finding(check, WORKSPACE, "skip", f"query failed: {error}")
    names = {name.lower() for name in known}
    strays: dict[str, int] = {}
    for row in rows or []:
        role, service = str(row.get("role") or ""), str(row.get("service") or "")
        if role.lower() in names or service.lower() in names:
            continue
        if role == GENERIC_ROLE and not service:
            continue  # 1.4.x print lines name no service; they belong to a service through their host
        # 1.4.x names the service only in `Service Name` (its role is azmlinfsrv for every service)
        name = service if role == GENERIC_ROLE or not role else role
        strays[name] = strays.get(name, 0) + int(row.get("n") or 0)
    if not strays:
        return Finding(check, WORKSPACE, "ok", f"every row in the last {window} names a known target")
    ranked = sorted(strays.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{label} ({count} rows)" for label, count in ranked[:5])
    more = f" and {len(ranked) - 5} more names" if len(ranked) > 5 else ""
    first = ranked[0][0]
    return Finding(
        check,
        WORKSPACE,
        "warn",
        f"rows in the last {window} under role / service names that match no service or deployment: "
        f"{shown}{more}",
        f"name the telemetry explicitly: amlmon traces TARGET --role {shlex.quote(first)}",
    )
