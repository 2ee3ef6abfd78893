"""Applying the plan to one v1 service: wait out Transitioning, PATCH, wait for the operation."""

from __future__ import annotations

import time
from typing import Any

from amlmon.diagnostics.plan import json_patch, plan_v1
from amlmon.diagnostics.results import Step
from amlmon.diagnostics.workspace import Workspace
from amlmon.errors import OperationFailed


def apply_v1(ws: Workspace, step: Step) -> None:
    item, options, result = step.item, step.options, step.result
    service = _settled_service(ws, step)
    result.changes = plan_v1(service, enable=options.v2.app_insights, model_data=options.model_data)
    if not result.changes:
        result.status = "unchanged"
        return
    if options.dry_run:
        result.status = "would-change"
        return
    step.before_write()
    submitted = ws.mms.patch_service(item.target, json_patch(result.changes))
    result.operation_id = submitted.operation_id
    if not options.wait or submitted.operation_url is None:
        result.status = "submitted" if submitted.operation_url else "changed"
        return
    step.progress(item.target, f"waiting for operation {submitted.operation_id}")
    final = ws.mms.wait_operation(submitted.operation_url, deadline=step.deadline, stop=step.stopped)
    if final.get("state") != "Succeeded":
        raise OperationFailed(
            f"{item.target}: update {str(final.get('state')).lower()}: {_service_failure(ws, item.target, final)}",
            hint=f"see the service's logs; nothing else was changed (operation {submitted.operation_id})",
        )
    result.status = "changed"


def _settled_service(ws: Workspace, step: Step) -> Any:
    """The service, read again until it is no longer Transitioning (another update in flight)."""
    from amlmon.azure.services_v1 import StopWaiting, sleep_until
    from amlmon.errors import Throttled

    item, options, progress, deadline = step.item, step.options, step.progress, step.deadline
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
        if not sleep_until(min(time.monotonic() + delay, deadline), step.stopped):
            raise StopWaiting()
        delay = min(delay * 1.5, 5.0)
        service = ws.mms.get_service(item.target)
    return service


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
