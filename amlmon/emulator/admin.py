"""The emulator's own API (/_emulator/*, no auth, loopback only): create workspaces, inject faults, read
the request log, expire tokens, change settings, force a v1 service's state.

Telemetry admin routes (/_emulator/telemetry/*) live with the telemetry store (ingestion.py, seed.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from amlmon.emulator import arm, mms
from amlmon.emulator.faults import FaultRule
from amlmon.emulator.http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from amlmon.emulator.server import EmulatorState

REQUIRED_WORKSPACE_KEYS = ("subscription", "resourceGroup", "name")


def _bad(message: str) -> Response:
    return json_response(400, {"error": {"code": "BadRequest", "message": message}})


def register(router: Router, state: EmulatorState) -> None:
    router.add("POST", r"/_emulator/workspaces", lambda r: _create_workspace(state, r))
    router.add("GET", r"/_emulator/requests", lambda r: _requests(state, r))
    router.add("POST", r"/_emulator/faults", lambda r: _add_fault(state, r))
    router.add(
        "GET",
        r"/_emulator/faults",
        lambda r: json_response(200, {"value": [f.to_json() for f in state.faults.list()]}),
    )
    router.add("DELETE", r"/_emulator/faults", lambda r: _clear_faults(state))
    router.add(
        "POST",
        r"/_emulator/tokens/expire",
        lambda r: json_response(200, {"expired": state.tokens.expire_all()}),
    )
    router.add(
        "POST",
        r"/_emulator/tokens/revoke",
        lambda r: json_response(200, {"revoked": state.tokens.revoke_all()}),
    )
    router.add("GET", r"/_emulator/settings", lambda r: json_response(200, dict(state.settings)))
    # The telemetry path is the contract's name for the same settings (ingestion delay and jitter).
    router.add("PUT", r"/_emulator/(?:telemetry/)?settings", lambda r: _put_settings(state, r))
    router.add("PATCH", r"/_emulator/services", lambda r: _force_service(state, r))


def _create_workspace(state: EmulatorState, request: Request) -> Response:
    body = request.json()
    if not isinstance(body, dict) or any(not body.get(key) for key in REQUIRED_WORKSPACE_KEYS):
        return _bad(f"a workspace needs {', '.join(REQUIRED_WORKSPACE_KEYS)}")
    problem = _name_problem(body)
    if problem:
        return _bad(problem)
    with state.lock:
        answer = arm.create_workspace_resources(state, body)
        workspace_id = answer["workspaceId"]
        answer["services"] = mms.create_services(state, workspace_id, list(body.get("services") or []))
    created = answer.pop("created")
    return json_response(201 if created else 200, answer)


def _name_problem(body: dict[str, Any]) -> str | None:
    """Azure's naming rules for the workspace's own IDs: each name becomes a path segment."""
    from amlmon.azure import paths
    from amlmon.errors import UsageError

    try:
        paths.SUBSCRIPTION.check(str(body["subscription"]), "subscription")
        paths.RESOURCE_GROUP.check(str(body["resourceGroup"]), "resourceGroup")
        paths.WORKSPACE.check(str(body["name"]), "name")
    except UsageError as exc:
        return f"{exc.message} ({exc.hint})"
    return None


def _requests(state: EmulatorState, request: Request) -> Response:
    try:
        since = int(request.q("since") or 0)
    except ValueError:
        return _bad("since must be an integer")
    with state.lock:
        last = state.request_count
        entries: list[dict[str, Any]] = (
            [] if since < 0 else [e for e in state.request_log if e["seq"] > since]
        )
    return json_response(200, {"value": entries, "lastSeq": last})


def _add_fault(state: EmulatorState, request: Request) -> Response:
    try:
        rule = FaultRule.from_json(request.json() or {})
    except (ValueError, TypeError, re.error) as exc:
        return _bad(f"bad fault rule: {exc}")
    return json_response(201, state.faults.add(rule).to_json())


def _clear_faults(state: EmulatorState) -> Response:
    state.faults.clear()
    return json_response(200, {"cleared": True})


def _put_settings(state: EmulatorState, request: Request) -> Response:
    body = request.json()
    if not isinstance(body, dict):
        return _bad("settings must be a JSON object")
    with state.lock:
        state.settings.update(body)
        return json_response(200, dict(state.settings))


def _force_service(state: EmulatorState, request: Request) -> Response:
    body = request.json()
    if not isinstance(body, dict) or any(
        not body.get(k) for k in ("subscription", "resourceGroup", "workspace", "name")
    ):
        return _bad("give subscription, resourceGroup, workspace and name")
    return mms.force_service(state, body)
