"""v2 console-log traps: the data collector's known failure lines and the inference server's App
Insights line, found by one summarizing query on AmlOnlineEndpointConsoleLog and judged since the
server's newest start. The traps are the exact messages of the packages that print them:

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
from typing import Any

from amlmon import kql
from amlmon.doctor.collection_errors import STORAGE_FIX
from amlmon.doctor.findings import Finding
from amlmon.schema import ENDPOINT_LOGS

CONSOLE = ENDPOINT_LOGS.console
START_LINE = "Azure ML Inferencing HTTP server"
START = "start"  # the trap name of a server start line
APP_INSIGHTS_OFF = "app-insights-off"
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
    APP_INSIGHTS_OFF: (
        ("Application Insights Enabled: false", "Application Insights has been disabled."),
        "the inference server started with App Insights off: no requests, traces or exceptions are sent",
    ),
}
COLLECTOR_CHECK = "v2.console-collector"
APP_INSIGHTS_CHECK = "v2.console-app-insights"


def _has_any(texts: Sequence[str]) -> str:
    return " or ".join(f"{CONSOLE.message} has {kql.string(text)}" for text in texts)


def console_query(endpoint: str) -> str:
    """Known failure lines and server start lines, summarized per deployment and trap."""
    terms = [START_LINE] + [text for texts, _ in CONSOLE_TRAPS.values() for text in texts]
    cases = [f"{_has_any([START_LINE])}, {kql.string(START)}"]
    cases += [f"{_has_any(texts)}, {kql.string(trap)}" for trap, (texts, _) in CONSOLE_TRAPS.items()]
    return (
        f"{CONSOLE.table}\n| where {ENDPOINT_LOGS.endpoint_match(endpoint)}\n| where {_has_any(terms)}\n"
        f"| extend trap = case({', '.join(cases)}, 'other')\n"
        f"| summarize lines = count(), newest = max({CONSOLE.time}), sample = take_any({CONSOLE.message}) "
        f"by {CONSOLE.deployment}, trap"
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
            Finding(COLLECTOR_CHECK, target, "skip", error),
            Finding(APP_INSIGHTS_CHECK, target, "skip", error),
        ]
    mine = {str(r.get("trap")): r for r in rows or [] if str(r.get(CONSOLE.deployment)) == deployment}
    started = _instant(mine.get(START, {}).get("newest"))
    current = _since_start(mine, started)
    since = "since the server's last start" if started else f"in the last {window}"
    # Without a start line in the window there is nothing to judge "all clear" against; a trap still shows.
    no_start = None if started else f"no server start in the console log in the last {window}"
    return [
        _collector_finding(target, current, since, no_start),
        _app_insights_finding(target, current.get(APP_INSIGHTS_OFF), app_insights, no_start),
    ]


def _since_start(mine: dict[str, dict[str, Any]], started: dt.datetime | None) -> dict[str, dict[str, Any]]:
    """The trap rows whose newest line is not older than the newest server start (older lines are history)."""
    return {
        trap: row
        for trap, row in mine.items()
        if trap in CONSOLE_TRAPS and (started is None or (_instant(row.get("newest")) or started) >= started)
    }


def _collector_finding(
    target: str, current: dict[str, dict[str, Any]], since: str, no_start: str | None
) -> Finding:
    collector = [t for t in CONSOLE_TRAPS if t != APP_INSIGHTS_OFF and t in current]
    if collector:
        lines = "; ".join(
            f"{CONSOLE_TRAPS[t][1]} ({int(current[t].get('lines') or 0)} lines, e.g. {str(current[t].get('sample'))!r})"
            for t in collector
        )
        return Finding(
            COLLECTOR_CHECK,
            target,
            "fail",
            f"console log {since}: {lines}",
            _collector_fix(target, collector),
        )
    if no_start is not None:
        return Finding(COLLECTOR_CHECK, target, "skip", no_start)
    return Finding(COLLECTOR_CHECK, target, "ok", f"no collector failure lines {since}")


def _app_insights_finding(
    target: str, off: dict[str, Any] | None, app_insights: bool, no_start: str | None
) -> Finding:
    if off:
        return Finding(
            APP_INSIGHTS_CHECK,
            target,
            "fail",
            f"{CONSOLE_TRAPS[APP_INSIGHTS_OFF][1]} (start-up line {str(off.get('sample'))!r})"
            + ("; appInsightsEnabled is true, so the container did not get it" if app_insights else ""),
            _app_insights_fix(target, app_insights),
        )
    if no_start is not None:
        return Finding(APP_INSIGHTS_CHECK, target, "skip", no_start)
    return Finding(
        APP_INSIGHTS_CHECK, target, "ok", "the server's start-up lines do not say App Insights is off"
    )


def _app_insights_fix(target: str, app_insights: bool) -> str:
    if not app_insights:
        return f"amlmon diagnostics enable {target}  (sets appInsightsEnabled; the server restarts with it)"
    # The server reads AML_APP_INSIGHTS_ENABLED / AML_APP_INSIGHTS_KEY once at start (amlserver.py).
    return (
        "remove AML_APP_INSIGHTS_ENABLED / AML_APP_INSIGHTS_KEY from the deployment's environment_variables "
        "(the server reads them at start), then update the deployment so it restarts"
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
