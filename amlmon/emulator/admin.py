"""The emulator's own API (/_emulator/*, no auth, loopback only): create workspaces, inject faults, read
the request log, expire tokens, change settings, force a v1 service's state.

Telemetry admin routes (/_emulator/telemetry/*) live with the telemetry store (ingestion.py, seed.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from amlmon.emulator import arm, mms, mms_services
from amlmon.emulator.faults import FaultRule
from amlmon.emulator.http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

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
        answer["services"] = mms_services.create_services(
            state, workspace_id, list(body.get("services") or [])
        )
    created = answer.pop("created")
    return json_response(201 if created else 200, answer)


# Azure's naming rules for a workspace's own IDs ("Naming rules and restrictions for Azure resources"), kept
# here rather than borrowed from the product: the emulator answers as Azure does, not as amlmon assumes.
_WORKSPACE_NAME_RULES = (
    (
        "subscription",
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        36,
        "a subscription ID is a GUID",
    ),
    (
        "resourceGroup",
        r"[\w\-.()]*[\w\-()]",
        90,
        "1-90 characters: letters, digits, underscores, hyphens, periods and parentheses; not ending with a period",
    ),
    (
        "name",
        r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}",
        33,
        "3-33 characters: letters, digits, hyphens and underscores, starting with a letter or digit",
    ),
)


def _name_problem(body: dict[str, Any]) -> str | None:
    """Azure's naming rules for the workspace's own IDs: each name becomes a path segment."""
    for key, pattern, max_length, rule in _WORKSPACE_NAME_RULES:
        value = str(body[key])
        if len(value) > max_length or not re.fullmatch(pattern, value) or not value.isprintable():
            return f"{key} {value!r} is not valid (Azure's rule: {rule})"
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
