"""v2 checks that read an online endpoint's own pipes: its diagnostic setting for the endpoint log tables
and the newest row in each; the console-log traps (console_log.py) and the platform metric
DataCollectionErrorsPerMinute (collection_errors.py) are started here and judged there.

Per endpoint: one ARM read (diagnostic settings), two summarizing queries on the Log Analytics
workspace (started in the shared pool, so within the query API's 5-concurrent limit) and one
Metrics_List call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from amlmon.doctor.collection_errors import METRICS, METRICS_FILTER, collection_errors_finding
from amlmon.doctor.console_log import console_findings, console_query
from amlmon.doctor.findings import Finding, Sources, arm_properties, instant_and_age, name_of
from amlmon.doctor.querying import QueryPool, answer
from amlmon.errors import AmlmonError, AuthError, Throttled
from amlmon.schema import ENDPOINT_LOGS

DEPLOYMENT = ENDPOINT_LOGS.console.deployment  # the same column in the three tables
LOG_TABLES = ENDPOINT_LOGS.tables()  # also the diagnostic-setting categories that send them
# amlmon's name (`union withsource=`) for the column that says which table a row came from
SOURCE_TABLE = "SourceTable"


@dataclass
class EndpointState:
    """What was read or started for one endpoint."""

    name: str
    resource_id: str
    settings: list[Any] | None = None
    settings_error: str | None = None
    queryable: str | None = None  # why the tables cannot be queried here (None: they can)
    rows: Any = None
    console: Any = None
    metrics: dict[str, Any] | None = None
    metrics_error: str | None = None
    deployments: list[dict[str, Any]] = field(default_factory=list)


def rows_query(endpoint: str) -> str:
    """Rows and the newest ingestion time per endpoint log table and deployment."""
    return (
        f"union withsource={SOURCE_TABLE} {', '.join(LOG_TABLES)}\n"
        f"| where {ENDPOINT_LOGS.endpoint_match(endpoint)}\n"
        f"| summarize rows = count(), newest = max(ingestion_time()) by {SOURCE_TABLE}, {DEPLOYMENT}"
    )


def _la_of(component: dict[str, Any] | None) -> str | None:
    value = arm_properties(component).get("WorkspaceResourceId")
    return str(value) if value else None


def start_endpoint(
    sources: Sources,
    pool: QueryPool | None,
    component: dict[str, Any] | None,
    endpoint: dict[str, Any],
    window: dt.timedelta,
    now: dt.datetime,
) -> EndpointState:
    """Read the endpoint's settings, start its two queries, read its collection metrics."""
    state = EndpointState(str(endpoint.get("name")), str(endpoint.get("id")))
    try:
        state.settings = list(sources.diagnostic_settings(state.resource_id))
    except AmlmonError as exc:
        state.settings_error = exc.message
    state.queryable = _queryable(state, pool, _la_of(component), sources)
    if state.queryable is None and pool is not None and sources.log_query is not None:
        state.rows = pool.start_on(sources.log_query, rows_query(state.name))
        state.console = pool.start_on(sources.log_query, console_query(state.name))
    if sources.metrics is not None:
        try:
            state.metrics = sources.metrics(state.resource_id, METRICS, now - window, now, METRICS_FILTER)
        except (AuthError, Throttled):
            raise  # the run ends with its usual exit code, as for queries
        except AmlmonError as exc:
            state.metrics_error = exc.message
    return state


def _log_settings(state: EndpointState) -> list[Any]:
    return [s for s in state.settings or [] if any(c in LOG_TABLES for c in s.categories)]


def _queryable(
    state: EndpointState, pool: QueryPool | None, la_id: str | None, sources: Sources
) -> str | None:
    if state.settings is None:
        return f"cannot list the endpoint's diagnostic settings: {state.settings_error}"
    if pool is None or sources.log_query is None or la_id is None:
        return "no Log Analytics workspace to query"
    destinations = {str(s.properties.get("workspaceId") or "").lower() for s in _log_settings(state)}
    if not destinations - {""}:
        return "the endpoint log tables are not sent to a Log Analytics workspace"
    if la_id.lower() not in destinations:
        return f"the endpoint logs go to another Log Analytics workspace than {name_of(la_id)} (not queried)"
    return None


# --- findings ---------------------------------------------------------------------------------------


def endpoint_findings(
    state: EndpointState, deployment: dict[str, Any], now: dt.datetime, window: str
) -> list[Finding]:
    target = f"{state.name}/{deployment.get('name')}"
    found = [setting_finding(state, target)]
    rows, rows_error = _rows_answer(state)
    found.append(newest_rows_finding(target, str(deployment.get("name")), rows, rows_error, now, window))
    console, console_error = _console_answer(state)
    app_insights = bool(arm_properties(deployment).get("appInsightsEnabled"))
    found += console_findings(
        target, str(deployment.get("name")), console, console_error, window, app_insights
    )
    found.append(collection_errors_finding(state, target, str(deployment.get("name")), window))
    return found


def _rows_answer(state: EndpointState) -> tuple[list[dict[str, Any]] | None, str | None]:
    if state.rows is None:
        return None, state.queryable or "not queried"
    return answer(state.rows)


def _console_answer(state: EndpointState) -> tuple[list[dict[str, Any]] | None, str | None]:
    if state.console is None:
        return None, state.queryable or "not queried"
    return answer(state.console)


def setting_finding(state: EndpointState, target: str) -> Finding:
    check = "v2.endpoint-logs"
    if state.settings is None:
        return Finding(check, target, "skip", f"cannot list diagnostic settings: {state.settings_error}")
    mine = _log_settings(state)
    fix = f"amlmon diagnostics enable {state.name} --endpoint-logs"
    if not mine:
        return Finding(
            check,
            target,
            "warn",
            f"endpoint {state.name} has no diagnostic setting for {', '.join(LOG_TABLES)}: "
            "console lines, requests and container events are not kept",
            fix,
        )
    sent = {c for s in mine for c in s.categories if c in LOG_TABLES}
    parts = []
    for setting in mine:
        where = setting.properties.get("workspaceId") or setting.properties.get("storageAccountId") or "?"
        categories = [c for c in setting.categories if c in LOG_TABLES]
        parts.append(f"{setting.name}: {', '.join(categories)} → {name_of(str(where))}")
    missing = [c for c in LOG_TABLES if c not in sent]
    if missing:
        return Finding(check, target, "warn", f"{'; '.join(parts)}; not sent: {', '.join(missing)}", fix)
    return Finding(check, target, "ok", "; ".join(parts))


def newest_rows_finding(
    target: str,
    deployment: str,
    rows: list[dict[str, Any]] | None,
    error: str | None,
    now: dt.datetime,
    window: str,
) -> Finding:
    """The newest ingested row per endpoint log table for this deployment."""
    check = "v2.endpoint-log-rows"
    if error is not None:
        return Finding(check, target, "skip", error)
    mine = {str(r.get(SOURCE_TABLE)): r for r in rows or [] if str(r.get(DEPLOYMENT)) == deployment}
    parts = []
    for table in LOG_TABLES:
        row = mine.get(table)
        if row and int(row.get("rows") or 0):
            count = int(row["rows"])
            parts.append(
                f"{table}: {count} row{'' if count == 1 else 's'}, "
                f"newest ingested {instant_and_age(row.get('newest'), now)}"
            )
        else:
            parts.append(f"{table}: none")
    if any(int(r.get("rows") or 0) for r in mine.values()):
        return Finding(check, target, "ok", "; ".join(parts))
    return Finding(
        check,
        target,
        "warn",
        f"no endpoint log rows for {deployment} in the last {window}. Azure may take up to an hour after "
        "the diagnostic setting is created to write the first rows",
        "wait an hour after creating the setting and send a scoring request; if still nothing, "
        "check the setting's Log Analytics workspace (daily cap, access)",
    )
