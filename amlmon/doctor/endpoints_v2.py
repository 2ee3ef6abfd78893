"""v2 checks that read an online endpoint's own pipes: its diagnostic setting for the endpoint log tables
and the newest row in each, the collector's known failures and the server's App Insights line in the
console log, and the platform metric DataCollectionErrorsPerMinute with its `reason`.

Per endpoint: one ARM read (diagnostic settings), two summarizing queries on the Log Analytics
workspace (started in the shared pool, so within the query API's 5-concurrent limit) and one
Metrics_List call. The console-log traps are the exact messages of the packages that print them:

  azureml-ai-monitoring 1.0.0 (azureml/ai/monitoring/):
    init.py            logger.warning("data collector is not enabled")      no dataCollector config
    collector_json.py  "data collector is not initialized"                 config gone (torn down)
                       "custom logging is not enabled, drop the data"      / "collection {name} is not
                       enabled, drop the data" (both end "is not enabled, drop the data")
    queue/queue.py     "Too many requests lead to message queue is full, please reduce the number of
                       requests."                                          the 1,500-record queue full
    worker/sender.py   "failed to send json payload"                       the sidecar refused a post
  azureml-inference-server-http 1.5.1 (amlserver.py): start-up prints
    "Azure ML Inferencing HTTP server v{version}" then "Application Insights Enabled: false" when
    AML_APP_INSIGHTS_ENABLED is not "true" (or "Application Insights has been disabled." after an
    invalid key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amlmon import kql
from amlmon.doctor.findings import Finding, Sources, arm_properties, instant_and_age, name_of
from amlmon.doctor.querying import QueryPool, answer
from amlmon.errors import AmlmonError, AuthError, Throttled
from amlmon.schema import ENDPOINT_LOGS

LOG_TABLES = tuple(log.table for log in (ENDPOINT_LOGS.console, ENDPOINT_LOGS.traffic, ENDPOINT_LOGS.events))
SETTLING = dt.timedelta(hours=1)  # Azure may take up to an hour to write the first rows after a setting
START_LINE = "Azure ML Inferencing HTTP server"
# trap → (the exact text the package prints, what it means)
CONSOLE_TRAPS: dict[str, tuple[tuple[str, ...], str]] = {
    "collector-disabled": (
        ("data collector is not enabled", "is not enabled, drop the data"),
        "score.py's Collector runs but the deployment's dataCollector does not enable its collection: "
        "every record is dropped",
    ),
    "collector-not-initialized": (
        ("data collector is not initialized",),
        "score.py uses a Collector whose data collector was never initialised (or torn down): records dropped",
    ),
    "queue-full": (
        ("Too many requests lead to message queue is full, please reduce the number of requests.",),
        "the collector's in-memory queue (1,500 records) is full: records are dropped",
    ),
    "sidecar-refused": (
        ("failed to send json payload",),
        "the collector's sidecar refused posts: those records are lost",
    ),
    "app-insights-off": (
        ("Application Insights Enabled: false", "Application Insights has been disabled."),
        "the inference server started with App Insights off: no requests, traces or exceptions are sent",
    ),
}
ERRORS_METRIC = "DataCollectionErrorsPerMinute"
EVENTS_METRIC = "DataCollectionEventsPerMinute"


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


def _where_endpoint(endpoint: str) -> str:
    # No endpoint column: the endpoint is the last segment of _ResourceId (upper-case as Azure writes it).
    return f"{ENDPOINT_LOGS.console.resource} endswith {kql.string('/onlineEndpoints/' + endpoint)}"


def rows_query(endpoint: str) -> str:
    return (
        f"union withsource=SourceTable {', '.join(LOG_TABLES)}\n"
        f"| where {_where_endpoint(endpoint)}\n"
        "| summarize rows = count(), newest = max(ingestion_time()) by SourceTable, DeploymentName"
    )


def console_query(endpoint: str) -> str:
    """Known failure lines and server start lines, summarized per deployment and trap."""
    terms = [START_LINE] + [text for texts, _ in CONSOLE_TRAPS.values() for text in texts]
    wanted = " or ".join(f"Message has {kql.string(text)}" for text in terms)
    cases = [f"Message has {kql.string(START_LINE)}, 'start'"]
    for trap, (texts, _) in CONSOLE_TRAPS.items():
        matched = " or ".join(f"Message has {kql.string(text)}" for text in texts)
        cases.append(f"{matched}, {kql.string(trap)}")
    return (
        f"{LOG_TABLES[0]}\n| where {_where_endpoint(endpoint)}\n| where {wanted}\n"
        f"| extend trap = case({', '.join(cases)}, 'other')\n"
        "| summarize lines = count(), newest = max(TimeGenerated), sample = take_any(Message) "
        "by DeploymentName, trap"
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
            state.metrics = sources.metrics(
                state.resource_id,
                (EVENTS_METRIC, ERRORS_METRIC),
                now - window,
                now,
                "deployment eq '*' and reason eq '*'",
            )
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
    mine = {str(r.get("SourceTable")): r for r in rows or [] if str(r.get("DeploymentName")) == deployment}
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


def console_findings(
    target: str,
    deployment: str,
    rows: list[dict[str, Any]] | None,
    error: str | None,
    window: str,
    app_insights: bool = False,
) -> list[Finding]:
    """The collector's known failures and the server's App Insights line since the newest server start."""
    if error is not None:
        return [
            Finding("v2.console-collector", target, "skip", error),
            Finding("v2.console-app-insights", target, "skip", error),
        ]
    mine = {str(r.get("trap")): r for r in rows or [] if str(r.get("DeploymentName")) == deployment}
    started = _instant(mine.get("start", {}).get("newest"))
    current = {
        trap: row
        for trap, row in mine.items()
        if trap in CONSOLE_TRAPS and (started is None or (_instant(row.get("newest")) or started) >= started)
    }
    since = "since the server's last start" if started else f"in the last {window}"
    collector = [t for t in CONSOLE_TRAPS if t != "app-insights-off" and t in current]
    found = []
    if collector:
        lines = "; ".join(
            f"{CONSOLE_TRAPS[t][1]} ({int(current[t].get('lines') or 0)} lines, e.g. {str(current[t].get('sample'))!r})"
            for t in collector
        )
        found.append(
            Finding(
                "v2.console-collector",
                target,
                "fail",
                f"console log {since}: {lines}",
                _collector_fix(target, collector),
            )
        )
    elif started is None:
        found.append(
            Finding(
                "v2.console-collector",
                target,
                "skip",
                f"no server start in the console log in the last {window}",
            )
        )
    else:
        found.append(Finding("v2.console-collector", target, "ok", f"no collector failure lines {since}"))
    off = current.get("app-insights-off")
    if off:
        found.append(
            Finding(
                "v2.console-app-insights",
                target,
                "fail",
                f"{CONSOLE_TRAPS['app-insights-off'][1]} (start-up line {str(off.get('sample'))!r})"
                + ("; appInsightsEnabled is true, so the container did not get it" if app_insights else ""),
                _app_insights_fix(target, app_insights),
            )
        )
    elif started is None:
        found.append(
            Finding(
                "v2.console-app-insights",
                target,
                "skip",
                f"no server start in the console log in the last {window}",
            )
        )
    else:
        found.append(
            Finding(
                "v2.console-app-insights",
                target,
                "ok",
                "the server's start-up lines do not say App Insights is off",
            )
        )
    return found


def _app_insights_fix(target: str, app_insights: bool) -> str:
    if not app_insights:
        return f"amlmon diagnostics enable {target}  (sets appInsightsEnabled; the server restarts with it)"
    # The server reads AML_APP_INSIGHTS_ENABLED / AML_APP_INSIGHTS_KEY once at start (amlserver.py).
    return (
        "remove AML_APP_INSIGHTS_ENABLED / AML_APP_INSIGHTS_KEY from the deployment's environment_variables "
        "(the server reads them at start), then update the deployment so it restarts"
    )


STORAGE_FIX = (
    "check the workspace's default datastore (storage account keys, firewall, the identity's "
    "Storage Blob Data Contributor role); records lost meanwhile are not resent"
)


def _collector_fix(target: str, traps: Sequence[str]) -> str:
    """The fix of the first trap seen, in the order a user meets them."""
    fixes = {
        "collector-disabled": f"amlmon diagnostics enable {target} --model-data  (enables the collections score.py logs)",
        "collector-not-initialized": "create each Collector in score.py's init() (azureml.ai.monitoring), then redeploy",
        "queue-full": "scale out the deployment (more instances) or lower the collection's samplingRate",
        "sidecar-refused": STORAGE_FIX,
    }
    return next(fixes[t] for t in fixes if t in traps)


def _instant(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def collection_errors_finding(state: EndpointState, target: str, deployment: str, window: str) -> Finding:
    """DataCollectionErrorsPerMinute over the window for this deployment, by reason."""
    check = "v2.collection-errors"
    if state.metrics is None:
        return Finding(
            check, target, "skip", f"metrics not read: {state.metrics_error or 'no metrics source'}"
        )
    errors: dict[str, int] = {}
    events = 0
    for metric in state.metrics.get("value") or []:
        name = str((metric.get("name") or {}).get("value") or "")
        for series in metric.get("timeseries") or []:
            dims = {
                str((m.get("name") or {}).get("value") or "").lower(): str(m.get("value") or "")
                for m in series.get("metadatavalues") or []
            }
            if dims.get("deployment") != deployment:
                continue
            total = int(sum(float(d.get("total") or 0) for d in series.get("data") or []))
            if name == ERRORS_METRIC and total:
                reason = dims.get("reason") or "no reason"
                errors[reason] = errors.get(reason, 0) + total
            elif name == EVENTS_METRIC:
                events += total
    if not errors:
        return Finding(check, target, "ok", f"no {ERRORS_METRIC} in the last {window} ({events} events)")
    count = sum(errors.values())
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(errors.items(), key=lambda kv: -kv[1]))
    return Finding(
        check,
        target,
        "fail" if events == 0 else "warn",
        f"{count} {ERRORS_METRIC} in the last {window} (reason {reasons}); {events} events stored",
        STORAGE_FIX,
    )
