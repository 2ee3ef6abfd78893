"""`amlmon doctor`: every switch between a deployed model and a row in Log Analytics, checked.

Each check is a small function that reads what it needs through `Sources` (callables the CLI builds
from its clients: ARM reads, service/deployment listings, a summarizing query, diagnostic settings,
blob listings) and returns `Finding`s: `ok`, `warn`, `fail` or `skip`, the evidence seen and the
command that fixes it. Nothing here writes. Queries only summarize (counts, max ingestion time);
they run concurrently, at most `MAX_CONCURRENT_QUERIES` at once (the query API's per-user limit).
"""

from __future__ import annotations

import datetime as dt
import shlex
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from amlmon import kql
from amlmon.errors import AmlmonError, NotFound
from amlmon.schema import APP, GENERIC_ROLE, MODEL_DATA_MESSAGE, SERVICE_DIMENSION
from amlmon.targets import Target, telemetry_filter

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")

ML_API = "2024-04-01"
COMPONENT_API = "2020-02-02"
LOG_ANALYTICS_API = "2023-09-01"
BILLING_API = "2015-05-01"  # the component's currentbillingfeatures and quotastatus
MAX_CONCURRENT_QUERIES = 5  # the Log Analytics query API runs at most 5 queries of a user at once
VALUE_LIMIT = 8192  # App Insights cuts each custom property value at 8,192 characters
WORKSPACE = "-"  # the target column of workspace-wide checks
# Diagnostic settings deliver hourly blobs within minutes; three hours without one means it stopped.
STALE_DELIVERY = dt.timedelta(hours=3)


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


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.status == "fail" for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for f in self.findings if f.status == status) for status in STATUSES}


# --- running queries ---------------------------------------------------------------------------------
class QueryPool:
    """Queries started now, answered later; at most MAX_CONCURRENT_QUERIES run at once."""

    def __init__(self, query: Callable[[str, dt.timedelta], list[dict[str, Any]]], window: dt.timedelta):
        from amlmon.background import Background

        self._query, self._window = query, window
        self._gate = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)
        self._background = Background

    def start(self, text: str) -> Any:
        def work() -> list[dict[str, Any]]:
            with self._gate:
                return self._query(text, self._window)

        return self._background(work)


def _answer(pending: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(rows, None) or (None, why the query could not run). Authentication and throttling end the run
    with their usual exit codes (every other check would fail the same way); anything else is a skip."""
    from amlmon.errors import AuthError, Throttled

    try:
        return pending.result(), None
    except (AuthError, Throttled):
        raise
    except AmlmonError as exc:
        return None, exc.message
    except Exception as exc:  # a check that cannot run is a skip with its reason, never a crash
        from amlmon.redact import redact

        translated = _translated(exc)
        if isinstance(translated, AuthError | Throttled):
            raise translated from None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, redact(text)


def _translated(exc: Exception) -> AmlmonError | None:
    import sys

    if "azure.core" not in sys.modules:
        return None
    from amlmon.azure.errors import translate

    return translate(exc)


# --- small helpers -----------------------------------------------------------------------------------
def _props(body: dict[str, Any] | None) -> dict[str, Any]:
    value = (body or {}).get("properties")
    return value if isinstance(value, dict) else {}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _rg_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[3] if len(parts) > 3 else "RG"


def _when(value: Any, now: dt.datetime) -> str:
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


def _generation(rows: int, legacy: int) -> str:
    """Which inference server wrote the rows: 1.4.x sends the role `azmlinfsrv`, 1.5.x the service name."""
    if rows == 0:
        return "none"
    if legacy == 0:
        return "1.5.x"
    return "1.4.x" if legacy == rows else "1.4.x and 1.5.x"


def _window_text(window: dt.timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{int(window.total_seconds() // 60)}m"


# --- workspace ---------------------------------------------------------------------------------------
@dataclass
class Linked:
    """The workspace's linked resources, as far as they could be read."""

    workspace: dict[str, Any]
    component_id: str | None = None
    component: dict[str, Any] | None = None
    log_analytics: dict[str, Any] | None = None
    billing: dict[str, Any] | None = None  # the component's …/currentbillingfeatures (its own daily cap)
    quota: dict[str, Any] | None = None  # the component's …/quotastatus (throttled by that cap now?)


def check_workspace(sources: Sources, workspace_id: str) -> tuple[list[Finding], Linked]:
    workspace = sources.arm_get(workspace_id, ML_API)
    if workspace is None:
        raise NotFound(
            f"workspace {_name_of(workspace_id)} not found",
            hint="check -g/-w and --subscription (`amlmon workspace show` prints where each came from)",
        )
    linked = Linked(workspace)
    found: list[Finding] = []
    ws_name, rg = _name_of(workspace_id), _rg_of(workspace_id)
    component_id = _props(workspace).get("applicationInsights") or None
    if not component_id:
        found.append(
            Finding(
                "workspace.app-insights",
                WORKSPACE,
                "fail",
                f"workspace {ws_name} has no linked Application Insights resource: no telemetry goes anywhere",
                f"az ml workspace update -n {ws_name} -g {rg} --application-insights <component-resource-id>",
            )
        )
        return found, linked
    linked.component_id = component_id
    linked.component = sources.arm_get(component_id, COMPONENT_API)
    if linked.component is None:
        found.append(
            Finding(
                "workspace.app-insights",
                WORKSPACE,
                "fail",
                f"the linked Application Insights resource {component_id} does not exist (deleted?)",
                f"az ml workspace update -n {ws_name} -g {rg} --application-insights <existing-component-id>",
            )
        )
        return found, linked
    found.append(
        Finding(
            "workspace.app-insights", WORKSPACE, "ok", f"linked component {_name_of(component_id)} exists"
        )
    )
    found += _workspace_based(sources, linked)
    return found, linked


def _workspace_based(sources: Sources, linked: Linked) -> list[Finding]:
    props = _props(linked.component)
    component = _name_of(str(linked.component_id))
    rg = _rg_of(str(linked.component_id))
    la_id = props.get("WorkspaceResourceId") or None
    mode = props.get("IngestionMode") or "unknown"
    if not la_id:
        return [
            Finding(
                "workspace.workspace-based",
                WORKSPACE,
                "warn",
                f"component {component} is classic (no WorkspaceResourceId, IngestionMode {mode}); classic "
                "resources are retired and `--log-analytics` queries cannot work",
                f"az monitor app-insights component update --app {component} -g {rg} "
                "--workspace <log-analytics-workspace-id>",
            ),
            Finding(
                "workspace.log-analytics", WORKSPACE, "skip", "no Log Analytics workspace (classic component)"
            ),
        ]
    found = [
        Finding(
            "workspace.workspace-based",
            WORKSPACE,
            "ok",
            f"IngestionMode {mode}, Log Analytics workspace {_name_of(la_id)}",
        )
    ]
    try:
        linked.log_analytics = sources.arm_get(la_id, LOG_ANALYTICS_API)
    except AmlmonError as exc:
        found.append(
            Finding(
                "workspace.log-analytics",
                WORKSPACE,
                "fail",
                f"cannot read Log Analytics workspace {_name_of(la_id)}: {exc.message}",
                "ask for Log Analytics Reader on the workspace (or Reader on its resource group)",
            )
        )
        return found
    if linked.log_analytics is None:
        found.append(
            Finding(
                "workspace.log-analytics",
                WORKSPACE,
                "fail",
                f"the component's Log Analytics workspace {la_id} does not exist: ingestion has nowhere to go",
                f"az monitor app-insights component update --app {component} -g {rg} --workspace <existing-id>",
            )
        )
        return found
    customer = _props(linked.log_analytics).get("customerId")
    found.append(
        Finding(
            "workspace.log-analytics",
            WORKSPACE,
            "ok",
            f"{_name_of(la_id)} readable (customerId {customer})",
        )
    )
    return found


# --- ingestion ---------------------------------------------------------------------------------------
def read_component_cap(sources: Sources, linked: Linked) -> None:
    """The component's own daily cap and quota status (api-version 2015-05-01); absent when unreadable."""
    if linked.component_id is None or linked.component is None:
        return
    for attribute, path in (("billing", "currentbillingfeatures"), ("quota", "quotastatus")):
        try:
            setattr(linked, attribute, sources.arm_get(f"{linked.component_id}/{path}", BILLING_API))
        except AmlmonError:
            setattr(linked, attribute, None)


def check_ingestion(linked: Linked, senders: Sequence[str]) -> list[Finding]:
    """Local auth vs key-only senders, daily caps, ingestion sampling."""
    if linked.component is None:
        return [Finding("ingestion", WORKSPACE, "skip", "no Application Insights component to check")]
    return [
        _local_auth(linked, senders),
        _daily_cap(linked),
        _sampling(linked),
        _component_cap(linked),
    ]


def _component_cap(linked: Linked) -> Finding:
    check = "ingestion.component-cap"
    if linked.quota is None:
        return Finding(check, WORKSPACE, "skip", "the component's quota status is not readable")
    cap = ((linked.billing or {}).get("DataVolumeCap") or {}).get("Cap")
    cap_text = f"component daily cap {cap:g} GB" if isinstance(cap, int | float) else "component daily cap"
    component, rg = _name_of(str(linked.component_id)), _rg_of(str(linked.component_id))
    if _truthy(linked.quota.get("ShouldBeThrottled")):
        return Finding(
            check,
            WORKSPACE,
            "fail",
            f"{cap_text} reached: ingestion is throttled until {linked.quota.get('ExpirationTime')}; "
            "rows sent meanwhile are dropped",
            f"raise it: az monitor app-insights component billing update --app {component} -g {rg} --cap <GB>",
        )
    return Finding(check, WORKSPACE, "ok", f"{cap_text}, not reached (ShouldBeThrottled false)")


def _local_auth(linked: Linked, senders: Sequence[str]) -> Finding:
    props = _props(linked.component)
    component, rg = _name_of(str(linked.component_id)), _rg_of(str(linked.component_id))
    fix = (
        f"az resource update --ids {linked.component_id} --set properties.DisableLocalAuth=false "
        "(the inference server sends with the instrumentation key only; it cannot use Entra ID)"
    )
    if not _truthy(props.get("DisableLocalAuth")):
        return Finding(
            "ingestion.local-auth",
            WORKSPACE,
            "ok",
            "local authentication enabled: key-only ingestion accepted",
        )
    if senders:
        shown = ", ".join(senders[:5]) + (f" and {len(senders) - 5} more" if len(senders) > 5 else "")
        return Finding(
            "ingestion.local-auth",
            WORKSPACE,
            "fail",
            f"component {component} (rg {rg}) has DisableLocalAuth=true: it refuses envelopes sent with an "
            f"instrumentation key only (HTTP 401), which is how the inference server of {shown} sends: "
            "no data at all (its log says 'Your Application Insights resource may be configured to use "
            "entra ID authentication')",
            fix,
        )
    return Finding(
        "ingestion.local-auth",
        WORKSPACE,
        "warn",
        f"component {component} has DisableLocalAuth=true: a deployment with App Insights on would send nothing",
        fix,
    )


def _daily_cap(linked: Linked) -> Finding:
    capping = _props(linked.log_analytics).get("workspaceCapping") or {}
    if linked.log_analytics is None or not isinstance(capping, dict):
        return Finding("ingestion.daily-cap", WORKSPACE, "skip", "no Log Analytics workspace read")
    quota = capping.get("dailyQuotaGb")
    status = str(capping.get("dataIngestionStatus") or "unknown")
    reset = capping.get("quotaNextResetTime")
    la_name, rg = _name_of(str(linked.log_analytics.get("id"))), _rg_of(str(linked.log_analytics.get("id")))
    cap_text = "no daily cap" if quota in (None, -1, -1.0) else f"daily cap {quota:g} GB"
    fix = f"az monitor log-analytics workspace update -n {la_name} -g {rg} --quota <GB, -1 for none>"
    if status in ("OverQuota", "ForceOff", "SubscriptionSuspended"):
        why = {
            "OverQuota": f"the daily cap was reached: ingestion stopped until {reset or 'the reset time'}",
            "ForceOff": "ingestion was turned off",
            "SubscriptionSuspended": "the subscription is suspended",
        }[status]
        return Finding(
            "ingestion.daily-cap",
            WORKSPACE,
            "fail",
            f"{la_name}: dataIngestionStatus {status}, {cap_text}: {why}; rows sent meanwhile are dropped",
            fix if status == "OverQuota" else "check the subscription / workspace state in the portal",
        )
    if status == "ApproachingQuota":
        return Finding(
            "ingestion.daily-cap",
            WORKSPACE,
            "warn",
            f"{la_name}: dataIngestionStatus ApproachingQuota, {cap_text} (resets {reset})",
            fix,
        )
    return Finding(
        "ingestion.daily-cap", WORKSPACE, "ok", f"{la_name}: {cap_text}, dataIngestionStatus {status}"
    )


def _sampling(linked: Linked) -> Finding:
    value = _props(linked.component).get("SamplingPercentage")
    component, rg = _name_of(str(linked.component_id)), _rg_of(str(linked.component_id))
    try:
        percent = 100.0 if value is None else float(value)
    except (TypeError, ValueError):
        return Finding(
            "ingestion.sampling", WORKSPACE, "skip", f"SamplingPercentage {value!r} is not a number"
        )
    if percent >= 100:
        return Finding("ingestion.sampling", WORKSPACE, "ok", "no ingestion sampling (100 %)")
    return Finding(
        "ingestion.sampling",
        WORKSPACE,
        "warn",
        f"ingestion sampling keeps {percent:g} % of items: {100 - percent:g} % are dropped at ingestion, "
        f"counts are estimates (each kept row stands for {100 / percent:.3g}; sum itemCount, not count())",
        f"az monitor app-insights component update --app {component} -g {rg} --sampling-percentage 100",
    )


# --- v1 services -------------------------------------------------------------------------------------
def _service_queries(name: str) -> dict[str, str]:
    c = APP["app-insights"]
    where = telemetry_filter([Target(name)], "app-insights")
    legacy = f"countif({c.role} == {kql.string(GENERIC_ROLE)})"
    summary = f"rows = count(), newest = max(ingestion_time()), legacy = {legacy}"
    cut = (
        f"iff({c.message} == {kql.string(MODEL_DATA_MESSAGE)} and "
        f"(strlen({c.dimension('custom_dimensions')}) >= {VALUE_LIMIT} or "
        f"strlen({c.dimension('Input')}) >= {VALUE_LIMIT}), 1, 0)"
    )
    return {
        "requests": f"{c.requests}\n| where {where}\n| summarize {summary}",
        "exceptions": f"{c.exceptions}\n| where {where}\n| summarize {summary}",
        "traces": (
            f"{c.traces}\n| where {where}\n"
            f"| extend md = iff({c.message} == {kql.string(MODEL_DATA_MESSAGE)}, 1, 0), cut = {cut}\n"
            f"| summarize {summary}, truncated = sum(cut) by md"
        ),
    }


def check_service_settings(service: dict[str, Any]) -> list[Finding]:
    name = str(service.get("name"))
    state = str(service.get("state") or "unknown")
    found = [
        Finding("v1.state", name, "ok", f"state {state}")
        if state.lower() == "healthy"
        else Finding(
            "v1.state",
            name,
            "fail" if state.lower() in ("failed", "unhealthy", "unschedulable") else "warn",
            f"state {state}: a service that is not Healthy serves nothing",
            f"az ml service get-logs -n {name}  (then redeploy)",
        )
    ]
    if service.get("appInsightsEnabled"):
        found.append(Finding("v1.app-insights", name, "ok", "appInsightsEnabled true"))
    else:
        found.append(
            Finding(
                "v1.app-insights",
                name,
                "fail",
                "appInsightsEnabled false: the inference server sends no requests, traces or exceptions",
                f"amlmon diagnostics enable {name}",
            )
        )
    raw = service.get("dataCollection")
    collection: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if collection.get("storageEnabled"):
        found.append(Finding("v1.model-data", name, "ok", "dataCollection.storageEnabled true"))
    else:
        found.append(
            Finding(
                "v1.model-data",
                name,
                "warn",
                "dataCollection.storageEnabled false: no model inputs / predictions are collected",
                f"amlmon diagnostics enable {name} --model-data",
            )
        )
    return found


def service_telemetry(
    name: str,
    answers: dict[str, tuple[list[dict[str, Any]] | None, str | None]],
    now: dt.datetime,
    window: str,
) -> list[Finding]:
    """Newest ingested row per kind, the generation that wrote it, and the share of cut model data."""
    kinds: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    for table in ("requests", "exceptions"):
        rows, error = answers[table]
        kinds[table[:-1]] = (rows[0] if rows else {"rows": 0}, error)
    rows, error = answers["traces"]
    by_md = {int(row.get("md") or 0): row for row in rows or []}
    kinds["trace"] = (by_md.get(0, {"rows": 0}), error)
    kinds["model-data"] = (by_md.get(1, {"rows": 0}), error)
    found = [_newest(name, kind, row, error, now, window) for kind, (row, error) in kinds.items()]
    found.append(_truncation(name, kinds["model-data"][0], kinds["model-data"][1], window))
    return found


def _newest(
    name: str, kind: str, row: dict[str, Any] | None, error: str | None, now: dt.datetime, window: str
) -> Finding:
    check = f"v1.newest-{kind}"
    if error is not None:
        return Finding(check, name, "skip", f"query failed: {error}")
    count = int((row or {}).get("rows") or 0)
    if count == 0:
        status: Status = "ok" if kind == "exception" else "warn"
        fix = None if kind == "exception" else _no_rows_fix(name, kind)
        return Finding(check, name, status, f"no {kind} rows ingested for {name} in the last {window}", fix)
    generation = _generation(count, int((row or {}).get("legacy") or 0))
    how = "role azmlinfsrv + Service Name" if generation.startswith("1.4") else "role = service name"
    return Finding(
        check,
        name,
        "ok",
        f"{count} row{'' if count == 1 else 's'} in {window}, newest ingested {_when((row or {}).get('newest'), now)}; "
        f"written by inference server {generation} ({how})",
    )


def _no_rows_fix(name: str, kind: str) -> str:
    if kind == "model-data":
        return f"amlmon diagnostics enable {name} --model-data, then send scoring requests"
    return f"send a scoring request; if still nothing, `amlmon doctor {name}` checks above say why"


def _truncation(name: str, row: dict[str, Any] | None, error: str | None, window: str) -> Finding:
    check = "v1.model-data-truncated"
    if error is not None:
        return Finding(check, name, "skip", f"query failed: {error}")
    total = int((row or {}).get("rows") or 0)
    if total == 0:
        return Finding(check, name, "skip", f"no model-data records in the last {window}")
    cut = int((row or {}).get("truncated") or 0)
    share = 100.0 * cut / total
    if cut == 0:
        return Finding(
            check, name, "ok", f"none of {total} model-data records cut at {VALUE_LIMIT:,} characters"
        )
    return Finding(
        check,
        name,
        "warn",
        f"{cut} of {total} model-data records ({share:.1f} %) cut at {VALUE_LIMIT:,} characters: "
        "App Insights truncates each property value, the inputs are lost",
        "inputs this large belong in the v2 data collector (blob storage, no size limit): "
        "deploy as a v2 online deployment with `dataCollector` model_inputs/model_outputs",
    )


# --- v2 deployments ----------------------------------------------------------------------------------
COLLECTIONS = ("model_inputs", "model_outputs", "request", "response")


def check_deployment(endpoint: dict[str, Any], deployment: dict[str, Any]) -> list[Finding]:
    target = f"{endpoint.get('name')}/{deployment.get('name')}"
    props = _props(deployment)
    state = str(props.get("provisioningState") or "unknown")
    found = [
        Finding("v2.provisioning", target, "ok", f"provisioningState {state}")
        if state == "Succeeded"
        else Finding(
            "v2.provisioning",
            target,
            "fail" if state in ("Failed", "Canceled") else "warn",
            f"provisioningState {state}",
            f"az ml online-deployment get-logs -e {endpoint.get('name')} -n {deployment.get('name')}",
        )
    ]
    if props.get("appInsightsEnabled"):
        found.append(Finding("v2.app-insights", target, "ok", "appInsightsEnabled true"))
    else:
        found.append(
            Finding(
                "v2.app-insights",
                target,
                "fail",
                "appInsightsEnabled false: no requests, traces or exceptions reach App Insights",
                f"amlmon diagnostics enable {target}",
            )
        )
    found += _collector(target, props.get("dataCollector"))
    for check, why in (
        ("v2.endpoint-logs", "endpoint diagnostic setting and AmlOnlineEndpoint* tables"),
        ("v2.collection-errors", "platform metric DataCollectionErrorsPerMinute"),
        ("v2.console-log", "collector failures and start-up lines in the console log"),
    ):
        found.append(Finding(check, target, "skip", f"not checked yet: {why}"))
    return found


def _collector(target: str, collector: Any) -> list[Finding]:
    if not isinstance(collector, dict) or not collector.get("collections"):
        return [
            Finding(
                "v2.data-collector",
                target,
                "warn",
                "no dataCollector: model inputs and outputs are not collected (model monitoring has nothing)",
                f"amlmon diagnostics enable {target} --model-data",
            )
        ]
    found: list[Finding] = []
    collections = collector.get("collections") or {}
    for name in sorted(collections):
        spec = collections[name] if isinstance(collections[name], dict) else {}
        found.append(_collection(target, name, spec))
    rolling = str(collector.get("rollingRate") or "Hour")
    found.append(
        Finding("v2.rolling-rate", target, "ok", f"rollingRate {rolling}")
        if rolling.lower() == "hour"
        else Finding(
            "v2.rolling-rate",
            target,
            "warn",
            f"rollingRate {rolling}: Azure ML model monitoring reads hourly folders and finds nothing",
            f"amlmon diagnostics enable {target} --model-data --rolling-rate hour",
        )
    )
    return found


def _collection(target: str, name: str, spec: dict[str, Any]) -> Finding:
    check = f"v2.collection.{name}"
    mode = str(spec.get("dataCollectionMode") or "Enabled")
    rate = spec.get("samplingRate")
    if mode.lower() != "enabled":
        return Finding(
            check,
            target,
            "warn",
            f"dataCollectionMode {mode}: nothing collected",
            f"amlmon diagnostics enable {target} --model-data",
        )
    problems = []
    if not spec.get("dataId"):
        problems.append("no dataId (Azure ML model monitoring cannot find the data asset)")
    try:
        rate_value = 1.0 if rate is None else float(rate)
    except (TypeError, ValueError):
        rate_value = 1.0
    if rate_value <= 0:
        problems.append(f"samplingRate {rate}: nothing is kept")
    evidence = f"mode {mode}, samplingRate {rate if rate is not None else 1.0}"
    if problems:
        return Finding(
            check,
            target,
            "fail" if rate_value <= 0 else "warn",
            f"{evidence}; " + "; ".join(problems),
            f"amlmon diagnostics enable {target} --model-data  (creates the data asset and sets dataId)",
        )
    return Finding(check, target, "ok", f"{evidence}, dataId {_name_of(str(spec['dataId']))}")


# --- telemetry without a name ------------------------------------------------------------------------
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


# --- export ------------------------------------------------------------------------------------------
def check_export(sources: Sources, linked: Linked, now: dt.datetime) -> list[Finding]:
    from amlmon.azure.diagnostic_settings import is_amlmon_setting, same_region

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
        found.append(
            Finding(
                "export.setting",
                WORKSPACE,
                "ok",
                f"{setting.name}: {', '.join(setting.categories) or 'no tables'}",
            )
        )
        if not setting.storage_account_id:
            continue
        account = sources.arm_get(setting.storage_account_id, "2023-01-01")
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
            continue
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
            f"newest delivered hour is {_when(newest, now)}: delivery stopped? ({evidence})",
            "amlmon export show --delivery; check the storage account's firewall and keys",
        )
    return Finding("export.delivery", WORKSPACE, "ok", evidence)


def _parse_hour(text: Any) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- the whole run -----------------------------------------------------------------------------------
def select(
    targets: Sequence[Target],
    services: list[dict[str, Any]],
    deployments: list[tuple[dict[str, Any], dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]], list[str]]:
    """The services and deployments named by `targets` (all when none), and the names matching nothing."""
    if not targets:
        return services, deployments, []
    chosen_services, chosen_deployments, unknown = [], [], []
    for target in targets:
        hits_s = [
            s
            for s in services
            if target.deployment is None and str(s.get("name")).lower() == target.name.lower()
        ]
        hits_d = [
            (ep, dep)
            for ep, dep in deployments
            if str(ep.get("name")).lower() == target.name.lower()
            and (target.deployment is None or str(dep.get("name")).lower() == target.deployment.lower())
        ]
        if not hits_s and not hits_d:
            unknown.append(str(target))
        chosen_services += [s for s in hits_s if s not in chosen_services]
        chosen_deployments += [d for d in hits_d if d not in chosen_deployments]
    return chosen_services, chosen_deployments, unknown


def run(
    sources: Sources,
    workspace_id: str,
    targets: Sequence[Target],
    window: dt.timedelta,
    now: dt.datetime | None = None,
) -> Report:
    now = now or dt.datetime.now(dt.UTC)
    window_text = _window_text(window)
    report = Report()
    found, linked = check_workspace(sources, workspace_id)
    report.findings += found
    services, deployments = sources.services(), sources.deployments()
    chosen_s, chosen_d, unknown = select(targets, services, deployments)
    if unknown:
        from amlmon.diagnostics import not_found_error

        raise not_found_error([(name, []) for name in unknown])
    senders = [str(s.get("name")) for s in services if s.get("appInsightsEnabled")]
    senders += [
        f"{ep.get('name')}/{dep.get('name')}"
        for ep, dep in deployments
        if _props(dep).get("appInsightsEnabled")
    ]
    read_component_cap(sources, linked)
    report.findings += check_ingestion(linked, senders)
    can_query = linked.component is not None
    pool = QueryPool(sources.query, window)
    pending: dict[str, dict[str, Any]] = {}
    unnamed = pool.start(UNNAMED_QUERY) if can_query else None
    if can_query:
        for service in chosen_s:
            name = str(service.get("name"))
            pending[name] = {kind: pool.start(text) for kind, text in _service_queries(name).items()}
    export = check_export(sources, linked, now)  # ARM and blob reads while the queries run
    for service in chosen_s:
        name = str(service.get("name"))
        report.findings += check_service_settings(service)
        if name in pending:
            answers = {kind: _answer(p) for kind, p in pending[name].items()}
            report.findings += service_telemetry(name, answers, now, window_text)
        else:
            report.findings.append(
                Finding("v1.telemetry", name, "skip", "no Application Insights component to query")
            )
    for endpoint, deployment in chosen_d:
        report.findings += check_deployment(endpoint, deployment)
    if unnamed is not None:
        known = [str(s.get("name")) for s in services]
        known += [str(ep.get("name")) for ep, _ in deployments] + [
            str(dep.get("name")) for _, dep in deployments
        ]
        rows, error = _answer(unnamed)
        report.findings.append(check_unnamed(rows, error, known, window_text))
    else:
        report.findings.append(
            Finding("telemetry.unnamed", WORKSPACE, "skip", "no Application Insights component to query")
        )
    report.findings += export
    return report
