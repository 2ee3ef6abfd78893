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
    EXIT_INTERRUPTED,
    EXIT_OK,
    AmlmonError,
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


class Interrupted(AmlmonError):
    exit_code = EXIT_INTERRUPTED


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
    api: str  # "v1" or "v2"
    endpoint: str | None = None

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


def deployment_item(endpoint: dict[str, Any], deployment: dict[str, Any]) -> Item:
    props = _dict(deployment.get("properties"))
    ep_props = _dict(endpoint.get("properties"))
    system = _dict(deployment.get("systemData"))
    ep_name = str(endpoint.get("name"))
    return Item(
        target=f"{ep_name}/{deployment.get('name')}",
        kind=str(props.get("endpointComputeType") or deployment.get("kind") or "unknown"),
        state=props.get("provisioningState"),
        diagnostics=bool(props.get(APP_INSIGHTS)),
        model_data=None,
        scoring_uri=ep_props.get("scoringUri"),
        updated=utc_instant(system.get("lastModifiedAt") or system.get("createdAt")),
        api="v2",
        endpoint=ep_name,
    )


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


def plan_v1(service: dict[str, Any], *, enable: bool, model_data: bool | None) -> list[Change]:
    """Changes for a v1 service: appInsightsEnabled, and dataCollection.storageEnabled when asked."""
    changes = []
    current = bool(service.get(APP_INSIGHTS))
    if current != enable:
        changes.append(Change(APP_INSIGHTS, current, enable))
    if model_data is not None:
        data = _dict(service.get("dataCollection"))
        stored = bool(data.get("storageEnabled"))
        if stored != model_data:
            changes.append(Change(MODEL_DATA, stored, model_data))
    return changes


def plan_v2(deployment_body: dict[str, Any], *, enable: bool) -> list[Change]:
    props = _dict(deployment_body.get("properties"))
    current = bool(props.get(APP_INSIGHTS))
    return [] if current == enable else [Change(f"properties.{APP_INSIGHTS}", current, enable)]


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

    def inventory(self, *, v1: bool = True, v2: bool = True, endpoints: set[str] | None = None) -> list[Item]:
        """Every v1 service and v2 deployment (v2 deployments only of `endpoints`, when given)."""
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
                items += [deployment_item(endpoint, d) for d in self._deployments_of(name)]
        return items

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
    ws: Workspace, texts: Sequence[str], *, all_targets: bool, kinds: set[str], name_glob: str | None
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
    inventory = ws.inventory(v1=need_v1, v2=need_v2, endpoints=wanted_endpoints)
    resolution = resolve(targets, inventory, kinds=kinds, name_glob=name_glob)
    # Placeholder rows for endpoints whose deployments were not listed only serve did-you-mean.
    resolution.items = [item for item in resolution.items if item.api in ("v1", "v2")]
    return resolution


# --- applying --------------------------------------------------------------------------------
@dataclass
class Options:
    enable: bool
    model_data: bool | None
    dry_run: bool = False
    wait: bool = True
    timeout: float = 900.0


Progress = Callable[[str, str], None]  # (target, message)


def apply(
    ws: Workspace, items: Sequence[Item], options: Options, progress: Progress, *, workers: int = MAX_WORKERS
) -> list[Result]:
    """Run every target concurrently (bounded); a failure is recorded and the others go on.

    Ctrl-C stops waiting (the operations continue server-side) and raises Interrupted.
    """
    stop = threading.Event()
    results: dict[str, Result] = {}
    pending: dict[Future[Result], Item] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1)))
    try:
        for item in items:
            pending[executor.submit(_one, ws, item, options, progress, stop.is_set)] = item
        while pending:
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                results[item.target] = future.result()
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
    return [results[item.target] for item in items if item.target in results]


def _drain(pending: dict[Future[Result], Item]) -> list[Result]:
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
    result.changes = plan_v1(service, enable=options.enable, model_data=options.model_data)
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
    result.changes = plan_v2(current.body, enable=options.enable)
    if not result.changes:
        result.status = "unchanged"
        return
    if options.dry_run:
        result.status = "would-change"
        return
    _, written = v2api.set_app_insights(ws.ctx, current, options.enable, wait=options.wait, reread=reread)
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
    result.status = "changed"
