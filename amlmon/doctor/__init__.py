"""`amlmon doctor`: every switch between a deployed model and a row in Log Analytics, checked.

Each check is a small function that reads what it needs through `Sources` (callables the CLI builds
from its clients: ARM reads, service/deployment listings, a summarizing query, diagnostic settings,
blob listings) and returns `Finding`s: `ok`, `warn`, `fail` or `skip`, the evidence seen and the
command that fixes it. Nothing here writes. Queries only summarize (counts, max ingestion time);
they run concurrently, at most `MAX_CONCURRENT_QUERIES` at once (the query API's per-user limit).

Rooms: `findings` (shared types and wording helpers), `querying` (the bounded query pool),
`workspace`, `ingestion`, `services_v1`, `deployments_v2`, `endpoints_v2` (an endpoint's log setting
and rows), `console_log` (its console-log traps), `collection_errors` (its collector metric), `unnamed`,
`export` (the checks by area) and `runner` (the whole run).
"""

from __future__ import annotations

from amlmon.doctor.deployments_v2 import COLLECTIONS, check_deployment, collection_finding
from amlmon.doctor.export import STALE_DELIVERY, check_export
from amlmon.doctor.findings import STATUSES, WORKSPACE, Finding, Report, Sources, Status
from amlmon.doctor.ingestion import BILLING_API, check_ingestion, read_component_cap
from amlmon.doctor.querying import MAX_CONCURRENT_QUERIES, QueryPool, answer
from amlmon.doctor.runner import run, select
from amlmon.doctor.services_v1 import (
    MODEL_DATA_MESSAGE,
    VALUE_LIMIT,
    check_service_settings,
    generation,
    service_queries,
    service_telemetry,
)
from amlmon.doctor.unnamed import UNNAMED_QUERY, check_unnamed
from amlmon.doctor.workspace import COMPONENT_API, LOG_ANALYTICS_API, ML_API, Linked, check_workspace

__all__ = [
    "BILLING_API",
    "COLLECTIONS",
    "COMPONENT_API",
    "LOG_ANALYTICS_API",
    "MAX_CONCURRENT_QUERIES",
    "ML_API",
    "MODEL_DATA_MESSAGE",
    "STALE_DELIVERY",
    "STATUSES",
    "UNNAMED_QUERY",
    "VALUE_LIMIT",
    "WORKSPACE",
    "Finding",
    "Linked",
    "QueryPool",
    "Report",
    "Sources",
    "Status",
    "answer",
    "check_deployment",
    "check_export",
    "check_ingestion",
    "check_service_settings",
    "check_unnamed",
    "check_workspace",
    "collection_finding",
    "generation",
    "read_component_cap",
    "run",
    "select",
    "service_queries",
    "service_telemetry",
]
