"""Diagnostics on deployed models: inventory, target resolution, the plan (old → new), and applying it.

Pure parts (rows, resolution, planning, summary) are plain functions with unit tests; `apply` runs each
target's read → plan → write → wait in a bounded thread pool and goes on past failures.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlmon.errors import (
    EXIT_FAILED,
    EXIT_OK,
    AmlmonError,
    Interrupted,
    NotFound,
    OperationFailed,
    UsageError,
)
from amlmon.targets import Target, parse_targets, suggest

if TYPE_CHECKING:
    from amlmon.context import AppContext

KINDS = ("ACI", "AKS", "Managed", "Kubernetes")
V1_KINDS = {"ACI": "ACI", "AKS": "AKS", "AKSENDPOINT": "AKS"}
MAX_WORKERS = 4
APP_INSIGHTS = "appInsightsEnabled"
MODEL_DATA = "dataCollection.storageEnabled"
# v2 data collector: collections score.py logs through azureml-ai-monitoring, and the reserved payload ones.
MODEL_COLLECTIONS = ("model_inputs", "model_outputs")
PAYLOAD_COLLECTIONS = ("request", "response")
ROLLING_RATES = ("Minute", "Hour", "Day", "Month", "Year")
COLLECTOR = "properties.dataCollector"
ENDPOINT_LOG_CATEGORIES = (
    "AmlOnlineEndpointConsoleLog",
    "AmlOnlineEndpointTrafficLog",
    "AmlOnlineEndpointEventLog",
)
ENDPOINT_LOGS_SETTING = "amlmon-endpoint-logs"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def utc_instant(text: Any) -> str | None:
    """One format for both APIs' timestamps (7 fractional digits, +00:00, Z…): `2026-11-25T06:11:38Z`."""
    import datetime as dt
    import re

    if not text:
        return None
    value = str(text).strip()
    trimmed = re.sub(r"(\.\d{1,6})\d*", r"\1", value).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(trimmed)
    except ValueError:
        return value  # unknown shape: shown as the service wrote it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- inventory rows ---------------------------------------------------------------------------
@dataclass
class Item:
    """One deployed model: a v1 service or a v2 deployment, as `services list` shows it."""

    target: str
    kind: str
    state: str | None
    diagnostics: bool
    model_data: bool | None  # None: not a v1 setting (v2 deployments)
    scoring_uri: str | None
    updated: str | None
    api: str  # "v1", "v2", or "endpoint-logs" (a v2 endpoint's diagnostic setting)
    endpoint: str | None = None
    data_collector: dict[str, Any] | None = None  # v2: collections, rollingRate, captureHeaders
    endpoint_logs: dict[str, Any] | None = None  # v2: categories and destinations of the endpoint

    def row(self) -> dict[str, Any]:
        """Stable JSON field names (also the table's columns)."""
        return {
            "target": self.target,
            "kind": self.kind,
            "state": self.state,
            "diagnostics": self.diagnostics,
            "modelData": self.model_data,
            "scoringUri": self.scoring_uri,
            "updated": self.updated,
            "dataCollector": self.data_collector,
            "endpointLogs": self.endpoint_logs,
        }


def service_item(service: dict[str, Any]) -> Item:
    compute = str(service.get("computeType") or "")
    data = _dict(service.get("dataCollection"))
    return Item(
        target=str(service.get("name")),
        kind=V1_KINDS.get(compute.upper(), compute or "unknown"),
        state=service.get("state"),
        diagnostics=bool(service.get("appInsightsEnabled")),
        model_data=bool(data.get("storageEnabled")),
        scoring_uri=service.get("scoringUri"),
        updated=utc_instant(service.get("updatedTime") or service.get("createdTime")),
        api="v1",
    )


def deployment_item(
    endpoint: dict[str, Any],
    deployment: dict[str, Any],
    assets: dict[str, bool] | None = None,
    endpoint_logs: dict[str, Any] | None = None,
) -> Item:
    """A v2 deployment's row; `assets` (dataId → exists) and `endpoint_logs` when they were read."""
    props = _dict(deployment.get("properties"))
    ep_props = _dict(endpoint.get("properties"))
    system = _dict(deployment.get("systemData"))
    ep_name = str(endpoint.get("name"))
    collector = collector_summary(props.get("dataCollector"), assets)
    modes = [collector["collections"].get(name, {}).get("mode") for name in MODEL_COLLECTIONS]
    return Item(
        target=f"{ep_name}/{deployment.get('name')}",
        kind=str(props.get("endpointComputeType") or deployment.get("kind") or "unknown"),
        state=props.get("provisioningState"),
        diagnostics=bool(props.get(APP_INSIGHTS)),
        model_data=any(is_enabled(mode) for mode in modes),
        scoring_uri=ep_props.get("scoringUri"),
        updated=utc_instant(system.get("lastModifiedAt") or system.get("createdAt")),
        api="v2",
        endpoint=ep_name,
        data_collector=collector,
        endpoint_logs=endpoint_logs,
    )


def is_enabled(mode: Any) -> bool:
    """dataCollectionMode comes back as `Enabled` or `enabled`: compare without case."""
    return str(mode or "").lower() == "enabled"


def collector_summary(collector: Any, assets: dict[str, bool] | None = None) -> dict[str, Any]:
    """properties.dataCollector as status shows it: each collection's mode, sampling rate, data asset."""
    data = _dict(collector)
    collections = {}
    for name, spec in sorted(_dict(data.get("collections")).items()):
        spec = _dict(spec)
        data_id = spec.get("dataId")
        collections[name] = {
            "mode": spec.get("dataCollectionMode"),
            "samplingRate": spec.get("samplingRate"),
            "dataId": data_id,
            "dataAssetExists": None if assets is None or not data_id else assets.get(str(data_id).lower()),
        }
    return {
        "collections": collections,
        "rollingRate": data.get("rollingRate"),
        "captureHeaders": list(_dict(data.get("requestLogging")).get("captureHeaders") or []),
    }


def endpoint_logs_summary(settings: Sequence[Any]) -> dict[str, Any]:
    """Which AmlOnlineEndpoint* categories the endpoint's diagnostic settings send, and where."""
    categories: set[str] = set()
    destinations = []
    for setting in settings:
        mine = [c for c in ENDPOINT_LOG_CATEGORIES if c in setting.categories]
        if not mine:
            continue
        categories.update(mine)
        props = setting.properties
        destinations.append(
            {
                "setting": setting.name,
                "categories": mine,
                "workspaceId": props.get("workspaceId"),
                "storageAccountId": props.get("storageAccountId"),
                "eventHubAuthorizationRuleId": props.get("eventHubAuthorizationRuleId"),
                "createdByAmlmon": setting.name.lower() == ENDPOINT_LOGS_SETTING,
            }
        )
    ordered = [c for c in ENDPOINT_LOG_CATEGORIES if c in categories]
    return {"categories": ordered, "destinations": destinations}


def parse_kinds(values: Iterable[str]) -> set[str]:
    """--kind ACI,aks → {"ACI", "AKS"} (case-insensitive, comma-separated or repeated)."""
    wanted: set[str] = set()
    by_lower = {k.lower(): k for k in KINDS}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if part.lower() not in by_lower:
                raise UsageError(f"--kind {part!r} is not a kind", hint=f"use one of {', '.join(KINDS)}")
            wanted.add(by_lower[part.lower()])
    return wanted


def matches(item: Item, kinds: set[str], name_glob: str | None) -> bool:
    if kinds and item.kind not in kinds:
        return False
    return name_glob is None or fnmatch.fnmatchcase(item.target.lower(), name_glob.lower())


# --- resolution ------------------------------------------------------------------------------
@dataclass
class Resolution:
    items: list[Item]
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)  # (target, suggestions)


def resolve(
    targets: Sequence[Target], inventory: Sequence[Item], *, kinds: set[str], name_glob: str | None
) -> Resolution:
    """The items the user named (a bare name: a v1 service or every deployment of a v2 endpoint)."""
    if not targets:
        return Resolution([item for item in inventory if matches(item, kinds, name_glob)])
    chosen: dict[str, Item] = {}
    unknown: list[tuple[str, list[str]]] = []
    for target in targets:
        found = [item for item in inventory if _names(item, target)]
        if not found:
            unknown.append((str(target), suggest(str(target), _candidates(inventory))))
            continue
        for item in found:
            if matches(item, kinds, name_glob):
                chosen.setdefault(item.target.lower(), item)
    return Resolution(list(chosen.values()), unknown)


def _names(item: Item, target: Target) -> bool:
    if target.deployment is not None:
        return item.api == "v2" and item.target.lower() == str(target).lower()
    if item.api == "v1":
        return item.target.lower() == target.name.lower()
    return (item.endpoint or "").lower() == target.name.lower()


def _candidates(inventory: Sequence[Item]) -> list[str]:
    names = {item.target for item in inventory}
    names |= {item.endpoint for item in inventory if item.endpoint}
    return sorted(names)


def not_found_error(unknown: list[tuple[str, list[str]]]) -> NotFound:
    text, suggestions = unknown[0]
    more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
    hint = (
        f"did you mean {' or '.join(suggestions)}?"
        if suggestions
        else "list the workspace's services and deployments with `amlmon services list`"
    )
    return NotFound(f"no service, endpoint or deployment named {text!r} in the workspace{more}", hint=hint)


# --- plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


def plan_v1(service: dict[str, Any], *, enable: bool | None, model_data: bool | None) -> list[Change]:
    """Changes for a v1 service: appInsightsEnabled (unless None), and dataCollection.storageEnabled when asked."""
    changes = []
    current = bool(service.get(APP_INSIGHTS))
    if enable is not None and current != enable:
        changes.append(Change(APP_INSIGHTS, current, enable))
    if model_data is not None:
        data = _dict(service.get("dataCollection"))
        stored = bool(data.get("storageEnabled"))
        if stored != model_data:
            changes.append(Change(MODEL_DATA, stored, model_data))
    return changes


@dataclass
class V2Want:
    """What to change on v2 deployments (None: leave that pipe as it is)."""

    app_insights: bool | None = None
    model_data: bool | None = None  # model_inputs + model_outputs
    payloads: bool | None = None  # request + response
    sampling_rate: float | None = None  # for the collections this run enables
    rolling_rate: str | None = None
    capture_headers: list[str] | None = None
    endpoint_logs: bool | None = None
    log_analytics_workspace: str | None = None

    def collections(self) -> dict[str, bool]:
        wanted: dict[str, bool] = {}
        for names, on in ((MODEL_COLLECTIONS, self.model_data), (PAYLOAD_COLLECTIONS, self.payloads)):
            if on is not None:
                wanted.update(dict.fromkeys(names, on))
        return wanted

    def touches_deployment(self) -> bool:
        return any(
            value is not None
            for value in (
                self.app_insights,
                self.model_data,
                self.payloads,
                self.rolling_rate,
                self.capture_headers,
            )
        )


def parse_rolling_rate(text: str | None) -> str | None:
    """`hour` → `Hour` (the enum's spelling); a usage error names the accepted values."""
    if text is None:
        return None
    by_lower = {rate.lower(): rate for rate in ROLLING_RATES}
    if text.strip().lower() not in by_lower:
        raise UsageError(
            f"--rolling-rate {text!r} is not a rolling rate",
            hint=f"use one of {', '.join(r.lower() for r in ROLLING_RATES)}",
        )
    return by_lower[text.strip().lower()]


def plan_v2(
    deployment_body: dict[str, Any], want: V2Want, data_ids: dict[str, str] | None = None
) -> tuple[list[Change], dict[str, Any]]:
    """The changes for one v2 deployment and the body to PUT (the read body with only those changed).

    `data_ids`: the data asset ARM id per collection, set as `dataId` on a collection enabled without one.
    """
    import copy

    body = copy.deepcopy(deployment_body)
    props = body.setdefault("properties", {})
    changes: list[Change] = []

    def setting(path: str, container: dict[str, Any], key: str, value: Any, *, same: Any = None) -> None:
        old = container.get(key)
        if (same or (lambda a, b: a == b))(old, value):
            return
        container[key] = value
        changes.append(Change(path, old, value))

    if want.app_insights is not None:
        old = bool(props.get(APP_INSIGHTS))
        if old != want.app_insights:
            props[APP_INSIGHTS] = want.app_insights
            changes.append(Change(f"properties.{APP_INSIGHTS}", old, want.app_insights))
    existing = props.get("dataCollector")
    collector = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    collections = collector.setdefault("collections", {})
    if not isinstance(collections, dict):
        raise OperationFailed(
            "properties.dataCollector.collections is not an object; amlmon will not rewrite it"
        )
    for name, on in want.collections().items():
        path = f"{COLLECTOR}.collections.{name}"
        current = collections.get(name)
        if not on and not isinstance(current, dict):
            continue  # nothing collected: nothing to turn off
        spec = current if isinstance(current, dict) else collections.setdefault(name, {})
        mode = "Enabled" if on else "Disabled"
        setting(f"{path}.dataCollectionMode", spec, "dataCollectionMode", mode, same=_same_mode)
        if on and want.sampling_rate is not None:
            setting(f"{path}.samplingRate", spec, "samplingRate", want.sampling_rate, same=_same_rate)
        if on and not spec.get("dataId") and data_ids and name in data_ids:
            setting(f"{path}.dataId", spec, "dataId", data_ids[name])
    if want.rolling_rate is not None:
        setting(f"{COLLECTOR}.rollingRate", collector, "rollingRate", want.rolling_rate, same=_same_mode)
    if want.capture_headers is not None:
        logging = collector.setdefault("requestLogging", {})
        setting(f"{COLLECTOR}.requestLogging.captureHeaders", logging, "captureHeaders", want.capture_headers)
        if not logging:
            collector.pop("requestLogging")
    if not collections:
        collector.pop("collections")
    if any(change.field.startswith(COLLECTOR) for change in changes):
        props["dataCollector"] = collector
    return changes, body


def _same_mode(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def _same_rate(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and abs(float(a) - float(b)) < 1e-9


def json_patch(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The model-management API's JSON patch for a v1 plan."""
    return [
        {"op": "replace", "path": "/" + change.field.replace(".", "/"), "value": change.new}
        for change in changes
    ]


# --- results ---------------------------------------------------------------------------------
@dataclass
class Result:
    target: str
    kind: str
    status: str  # changed | unchanged | would-change | submitted | failed
    changes: list[Change] = field(default_factory=list)
    operation_id: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    error: AmlmonError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "status": self.status,
            "changes": [change.to_dict() for change in self.changes],
            "operationId": self.operation_id,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
        }


def summary(results: Sequence[Result]) -> dict[str, int]:
    counts = {"changed": 0, "unchanged": 0, "would-change": 0, "submitted": 0, "failed": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def exit_code(results: Sequence[Result]) -> int:
    """0 when nothing failed; one target's own exit code when it was the only one; else 1."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return EXIT_OK
    if len(results) == 1 and failed[0].error is not None:
        return failed[0].error.exit_code
    return EXIT_FAILED


# --- reading the workspace -------------------------------------------------------------------
class Workspace:
    """Lazily built access to both APIs for one command run."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.unlisted: list[str] = []  # endpoints whose deployments could not be listed (404)
        self._mms: Any = None
        self._lock = threading.Lock()

    @property
    def mms(self) -> Any:
        with self._lock:
            if self._mms is None:
                from amlmon.azure.services_v1 import ModelManagementClient

                self._mms = ModelManagementClient(self.ctx)
            return self._mms

    def inventory(
        self, *, v1: bool = True, v2: bool = True, endpoints: set[str] | None = None, details: bool = False
    ) -> list[Item]:
        """Every v1 service and v2 deployment (v2 deployments only of `endpoints`, when given).

        `details`: also read whether each collection's data asset exists and the endpoints' diagnostic
        settings (what `services list` and `diagnostics status` show).
        """
        items: list[Item] = []
        if v1:
            items += [service_item(service) for service in self.mms.list_services()]
        if v2:
            from amlmon.azure import deployments_v2 as v2api

            for endpoint in v2api.list_endpoints(self.ctx):
                name = str(endpoint.get("name"))
                if endpoints is not None and name.lower() not in endpoints:
                    items.append(Item(name, "endpoint", None, False, None, None, None, "v2-endpoint", name))
                    continue
                deployments = self._deployments_of(name)
                logs = self._endpoint_logs(name) if details and deployments else None
                for deployment in deployments:
                    assets = self._assets(deployment) if details else None
                    items.append(deployment_item(endpoint, deployment, assets, logs))
        return items

    def _endpoint_logs(self, endpoint: str) -> dict[str, Any]:
        from amlmon.azure import deployments_v2 as v2api
        from amlmon.azure import diagnostic_settings as ds

        return endpoint_logs_summary(ds.list_settings(self.ctx, v2api.endpoint_path(self.ctx, endpoint)))

    def _assets(self, deployment: dict[str, Any]) -> dict[str, bool]:
        """dataId (lower-case) → whether that data asset exists."""
        from amlmon.azure import deployments_v2 as v2api

        collector = collector_summary(_dict(deployment.get("properties")).get("dataCollector"))
        found: dict[str, bool] = {}
        for spec in collector["collections"].values():
            data_id = spec.get("dataId")
            if data_id and str(data_id).startswith("/subscriptions/"):
                found[str(data_id).lower()] = v2api.data_asset_exists(self.ctx, str(data_id))
        return found

    def _deployments_of(self, endpoint: str) -> list[dict[str, Any]]:
        """An endpoint's deployments; one that vanished after the endpoint list is noted, not fatal."""
        from azure.core.exceptions import ResourceNotFoundError

        from amlmon.azure import deployments_v2 as v2api

        try:
            return v2api.list_deployments(self.ctx, endpoint)
        except ResourceNotFoundError:
            self.unlisted.append(endpoint)
            return []

    def close(self) -> None:
        if self._mms is not None:
            self._mms.close()


def collect(
    ws: Workspace,
    texts: Sequence[str],
    *,
    all_targets: bool,
    kinds: set[str],
    name_glob: str | None,
    details: bool = False,
) -> Resolution:
    """Resolve TARGET… / --all against the workspace; unknown targets carry did-you-mean suggestions."""
    targets = parse_targets(texts)
    if not targets and not all_targets:
        raise UsageError("no target given", hint="name services / endpoint[/deployment]s, or use --all")
    need_v1 = not targets or any(t.deployment is None for t in targets)
    if kinds and not kinds & {"ACI", "AKS"}:
        need_v1 = False
    need_v2 = not kinds or bool(kinds & {"Managed", "Kubernetes"})
    wanted_endpoints = None if not targets else {t.name.lower() for t in targets}
    inventory = ws.inventory(v1=need_v1, v2=need_v2, endpoints=wanted_endpoints, details=details)
    resolution = resolve(targets, inventory, kinds=kinds, name_glob=name_glob)
    # Placeholder rows for endpoints whose deployments were not listed only serve did-you-mean.
    resolution.items = [item for item in resolution.items if item.api in ("v1", "v2")]
    return resolution


def endpoint_items(items: Sequence[Item]) -> list[Item]:
    """One row per endpoint of the chosen v2 deployments: its logs are a setting of the endpoint."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.api == "v2" and item.endpoint and item.endpoint.lower() not in seen:
            seen[item.endpoint.lower()] = Item(
                item.endpoint, "endpoint", None, False, None, None, None, "endpoint-logs", item.endpoint
            )
    return list(seen.values())


# --- applying --------------------------------------------------------------------------------
@dataclass
class Options:
    enable: bool
    model_data: bool | None  # v1: dataCollection.storageEnabled
    dry_run: bool = False
    wait: bool = True
    timeout: float = 900.0
    v2: V2Want = field(default_factory=V2Want)


Progress = Callable[[str, str], None]  # (target, message)


def apply(
    ws: Workspace, items: Sequence[Item], options: Options, progress: Progress, *, workers: int = MAX_WORKERS
) -> list[Result]:
    """Run every target concurrently (bounded); a failure is recorded and the others go on.

    Ctrl-C stops waiting (the operations continue server-side) and raises Interrupted.
    """
    stop = threading.Event()
    results: dict[int, Result] = {}  # by position: an endpoint and a v1 service may share a name
    pending: dict[Future[Result], int] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1)))
    try:
        for index, item in enumerate(items):
            pending[executor.submit(_one, ws, item, options, progress, stop.is_set)] = index
        while pending:
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
    except KeyboardInterrupt:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        running = [r for r in _drain(pending) if r.operation_id]
        ops = ", ".join(f"{r.target} (operation {r.operation_id})" for r in running)
        raise Interrupted(
            "interrupted while waiting; amlmon sent nothing more"
            + (f" — these updates continue server-side: {ops}" if ops else ""),
            hint="check them later with `amlmon diagnostics status TARGET…`",
        ) from None
    finally:
        executor.shutdown(wait=True)
    return [results[index] for index in range(len(items)) if index in results]


def _drain(pending: dict[Future[Result], int]) -> list[Result]:
    drained = []
    for future in pending:
        if future.done() and not future.cancelled() and future.exception() is None:
            drained.append(future.result())
    return drained


def _one(
    ws: Workspace, item: Item, options: Options, progress: Progress, stopped: Callable[[], bool]
) -> Result:
    from amlmon.azure.services_v1 import StopWaiting

    started = time.monotonic()
    result = Result(item.target, item.kind, "failed")
    try:
        if item.api == "v1":
            _apply_v1(ws, item, options, progress, stopped, result, started)
        elif item.api == "endpoint-logs":
            _apply_endpoint_logs(ws, item, options, result)
        else:
            _apply_v2(ws, item, options, progress, stopped, result, started)
    except StopWaiting:
        result.status = "submitted" if result.operation_id else "failed"
        result.reason = (
            "interrupted; the operation continues server-side" if result.operation_id else "interrupted"
        )
    except AmlmonError as exc:
        _fail(result, exc)
    except Exception as exc:
        from amlmon.azure.errors import translate

        translated = translate(exc)
        if translated is None:
            raise
        _fail(result, translated)
    result.seconds = time.monotonic() - started
    progress(item.target, _final_line(result))
    return result


def _fail(result: Result, exc: AmlmonError) -> None:
    result.status = "failed"
    result.reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
    result.error = exc


def _final_line(result: Result) -> str:
    if result.status == "failed":
        return f"failed: {result.reason}"
    if result.status == "submitted":
        return f"submitted (operation {result.operation_id})"
    return f"{result.status} ({result.seconds:.1f}s)"


def _apply_v1(
    ws: Workspace,
    item: Item,
    options: Options,
    progress: Progress,
    stopped: Callable[[], bool],
    result: Result,
    started: float,
) -> None:
    from amlmon.azure.services_v1 import StopWaiting, sleep_until
    from amlmon.errors import Throttled

    deadline = started + options.timeout
    service = ws.mms.get_service(item.target)
    delay = 1.0
    while service.get("state") == "Transitioning":
        if not options.wait and not options.dry_run:
            raise OperationFailed(
                f"{item.target} is being updated (state Transitioning)",
                hint="run again without --no-wait to wait for it, or later",
            )
        if options.dry_run:
            break
        progress(item.target, "waiting: the service is mid-update (Transitioning)")
        if time.monotonic() >= deadline:
            raise Throttled(f"{item.target} is still Transitioning at the timeout", hint="raise --timeout")
        if not sleep_until(min(time.monotonic() + delay, deadline), stopped):
            raise StopWaiting()
        delay = min(delay * 1.5, 5.0)
        service = ws.mms.get_service(item.target)
    result.changes = plan_v1(service, enable=options.v2.app_insights, model_data=options.model_data)
    if not result.changes:
        result.status = "unchanged"
        return
    if options.dry_run:
        result.status = "would-change"
        return
    submitted = ws.mms.patch_service(item.target, json_patch(result.changes))
    result.operation_id = submitted.operation_id
    if not options.wait or submitted.operation_url is None:
        result.status = "submitted" if submitted.operation_url else "changed"
        return
    progress(item.target, f"waiting for operation {submitted.operation_id}")
    final = ws.mms.wait_operation(submitted.operation_url, deadline=deadline, stop=stopped)
    if final.get("state") != "Succeeded":
        raise OperationFailed(
            f"{item.target}: update {str(final.get('state')).lower()}: {_service_failure(ws, item.target, final)}",
            hint=f"see the service's logs; nothing else was changed (operation {submitted.operation_id})",
        )
    result.status = "changed"


def _service_failure(ws: Workspace, name: str, operation: dict[str, Any]) -> str:
    """The operation's error, else the service's own error field."""
    for source in (operation, _safe_service(ws, name)):
        error = source.get("error") if isinstance(source, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('code') or 'Error'}: {error['message']}"
    return "no reason given"


def _safe_service(ws: Workspace, name: str) -> dict[str, Any]:
    try:
        return dict(ws.mms.get_service(name))
    except Exception:
        return {}


def _apply_v2(
    ws: Workspace,
    item: Item,
    options: Options,
    progress: Progress,
    stopped: Callable[[], bool],
    result: Result,
    started: float,
) -> None:
    from amlmon.azure import deployments_v2 as v2api

    deadline = started + options.timeout
    assert item.endpoint is not None
    name = item.target.split("/", 1)[1]

    def reread() -> Any:
        """A fresh read, once no other operation is running on the deployment."""
        fresh = v2api.get_deployment(ws.ctx, item.endpoint or "", name)
        if fresh.state in v2api.BUSY_STATES and not options.dry_run:
            if not options.wait:
                raise OperationFailed(
                    f"{item.target} is being updated (provisioningState {fresh.state})",
                    hint="run again without --no-wait to wait for it, or later",
                )
            progress(item.target, f"waiting: the deployment is mid-update ({fresh.state})")
            fresh = v2api.wait_not_busy(ws.ctx, fresh, deadline=deadline, stop=stopped)
        return fresh

    current = reread()
    data_ids = {c: collection_asset_id(ws.ctx, item.endpoint, name, c) for c in ALL_COLLECTIONS}
    result.changes, body = plan_v2(current.body, options.v2, data_ids)
    if not result.changes:
        result.status = "unchanged"
        return
    changed = [change.field for change in result.changes]
    _check_round_trip(ws, item, current, body, changed, progress)
    if options.dry_run:
        result.status = "would-change"
        return
    _ensure_assets(ws, item, result.changes, progress)
    written = v2api.write(ws.ctx, current, body, wait=options.wait, reread=reread)
    if written is None:  # someone else made the same change meanwhile: amlmon wrote nothing
        result.status = "unchanged"
        result.changes = []
        return
    result.operation_id = written.operation_id
    if not options.wait:
        result.status = "submitted"
        return
    progress(item.target, f"waiting for operation {written.operation_id}")
    v2api.wait_written(written, deadline=deadline, stop=stopped)
    v2api.verify(ws.ctx, item.endpoint, name, body, changed)
    result.status = "changed"


ALL_COLLECTIONS = MODEL_COLLECTIONS + PAYLOAD_COLLECTIONS


def collection_asset_name(endpoint: str, deployment: str, collection: str) -> str:
    """The data asset the SDK registers for a collection: `{ep}-{dep}-{collection}`, version 1."""
    return f"{endpoint}-{deployment}-{collection}"


def collection_asset_id(ctx: Any, endpoint: str, deployment: str, collection: str) -> str:
    from amlmon.azure import deployments_v2 as v2api

    return v2api.data_asset_id(ctx, collection_asset_name(endpoint, deployment, collection))


def collection_data_uri(endpoint: str, deployment: str, collection: str) -> str:
    """Where the collector writes: the default datastore's modelDataCollector/{ep}/{dep}/{collection}."""
    return f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/{endpoint}/{deployment}/{collection}"


def _check_round_trip(
    ws: Workspace, item: Item, current: Any, body: dict[str, Any], changed: list[str], progress: Progress
) -> None:
    """Refuse (nothing written) when the PUT would not carry back every field that was read.

    Two ways a field is lost: amlmon's own body leaves one out, or the api-version amlmon reads and
    writes with does not model a field the deployment has (a newer version shows it; a read-modify-
    write at the older one deletes it — the GA 2023-x dataCollector trap).
    """
    from amlmon.azure import deployments_v2 as v2api

    lost = v2api.differences(current.body, body, skip=changed)
    probe = _probe(ws, current, progress)
    read = v2api.flatten(current.body)
    # Only fields with a value count: a newer version also sends its new optional fields as null.
    unseen = sorted(
        path
        for path, value in v2api.flatten(probe).items()
        if path.startswith("properties.")
        and path != "properties.provisioningState"
        and value not in (None, {}, [])
        and path not in read
    )
    if lost or unseen:
        fields = [path for path, _, _ in lost] + unseen
        raise OperationFailed(
            f"{item.target}: a PUT at api-version {v2api.API_VERSION} would not carry back "
            f"{', '.join(fields[:6])}{' …' if len(fields) > 6 else ''} "
            f"(api-version {v2api.PROBE_API_VERSION} shows it); nothing was written",
            hint="change this deployment with a tool that uses an api-version modelling every field it has",
        )


def _probe(ws: Workspace, current: Any, progress: Progress) -> dict[str, Any]:
    """The deployment read at the newer version; {} (with a note) where a cloud does not offer it."""
    from azure.core.exceptions import HttpResponseError

    from amlmon.azure import deployments_v2 as v2api

    try:
        return v2api.get_deployment(ws.ctx, current.endpoint, current.name, v2api.PROBE_API_VERSION).body
    except HttpResponseError as exc:
        if getattr(exc, "status_code", None) != 400:
            raise
        progress(
            f"{current.endpoint}/{current.name}",
            f"note: api-version {v2api.PROBE_API_VERSION} is not offered here; only amlmon's own body was checked",
        )
        return {}


def _ensure_assets(ws: Workspace, item: Item, changes: Sequence[Change], progress: Progress) -> None:
    """One uri_folder data asset per collection that gets a dataId, created before the PUT (reused if there)."""
    from amlmon.azure import deployments_v2 as v2api

    endpoint, deployment = item.target.split("/", 1)
    for change in changes:
        if not change.field.endswith(".dataId"):
            continue
        collection = change.field.split(".")[-2]
        if v2api.ensure_data_asset(
            ws.ctx, str(change.new), collection_data_uri(endpoint, deployment, collection)
        ):
            progress(
                item.target, f"created data asset {collection_asset_name(endpoint, deployment, collection)}:1"
            )


def _apply_endpoint_logs(ws: Workspace, item: Item, options: Options, result: Result) -> None:
    """amlmon's own diagnostic setting on the endpoint: the three categories to a Log Analytics workspace."""
    from amlmon.azure import deployments_v2 as v2api
    from amlmon.azure import diagnostic_settings as ds

    endpoint_id = v2api.endpoint_path(ws.ctx, item.target)
    settings = ds.list_settings(ws.ctx, endpoint_id)
    mine = next((s for s in settings if s.name.lower() == ENDPOINT_LOGS_SETTING), None)
    old = _endpoint_logs_value(mine)
    field_name = f"diagnosticSettings/{ENDPOINT_LOGS_SETTING}"
    if not options.v2.endpoint_logs:
        if mine is None:
            result.status = "unchanged"
            return
        result.changes = [Change(field_name, old, None)]
        if not options.dry_run:
            ds.delete_setting(ws.ctx, endpoint_id, mine.name)
        result.status = "would-change" if options.dry_run else "changed"
        return
    destination = options.v2.log_analytics_workspace or ws.ctx.workspace_info.log_analytics_id
    if not destination:
        raise UsageError(
            "the workspace's Application Insights has no Log Analytics workspace to send endpoint logs to",
            hint="name one with --log-analytics-workspace RESOURCE_ID",
        )
    new = {"categories": list(ENDPOINT_LOG_CATEGORIES), "workspaceId": destination}
    if (
        old is not None
        and old["categories"] == new["categories"]
        and str(old["workspaceId"]).lower() == destination.lower()
    ):
        result.status = "unchanged"
        return
    if mine is None and len(settings) >= ds.MAX_SETTINGS:
        raise OperationFailed(
            f"endpoint {item.target} already has {len(settings)} diagnostic settings, the most Azure allows; "
            "amlmon changes none of them",
            hint="remove one you no longer need, then run again",
        )
    result.changes = [Change(field_name, old, new)]
    if options.dry_run:
        result.status = "would-change"
        return
    logs = [{"category": category, "enabled": True} for category in ENDPOINT_LOG_CATEGORIES]
    ds.put_setting(ws.ctx, endpoint_id, ENDPOINT_LOGS_SETTING, {"workspaceId": destination, "logs": logs})
    result.status = "changed"


def _endpoint_logs_value(setting: Any) -> dict[str, Any] | None:
    if setting is None:
        return None
    categories = [c for c in ENDPOINT_LOG_CATEGORIES if c in setting.categories]
    return {"categories": categories, "workspaceId": setting.properties.get("workspaceId")}
