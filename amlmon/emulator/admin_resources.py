"""`PATCH /_emulator/resources`: change properties of a stored ARM resource the way an operator would in
the portal (local auth, sampling, daily caps), so tests and the demo can break a pipe on purpose.

Body: {"id": resourceId, "properties"?: {...}, "location"?: region, "body"?: {...}} — `properties` merged
into the stored ones (nested objects merged key by key, `null` removes a key), `location` replaced,
`body` merged into the whole body (for answers without `properties`, e.g. a component's
`…/quotastatus`). Only resources that exist; the answer is the new body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState


def register(router: Router, state: EmulatorState) -> None:
    router.add("PATCH", r"/_emulator/resources", lambda r: _patch(state, r))


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`base` with `change` merged in (JSON merge patch: objects recurse, null deletes)."""
    result = dict(base)
    for key, value in change.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def _patch(state: EmulatorState, request: Request) -> Response:
    body = request.json()
    if (
        not isinstance(body, dict)
        or not body.get("id")
        or not isinstance(body.get("properties", {}), dict)
        or not isinstance(body.get("body", {}), dict)
    ):
        return json_response(
            400, {"error": {"code": "BadRequest", "message": "give id, and properties or body (objects)"}}
        )
    store = state.resources
    with state.lock:
        current = store.get(str(body["id"]))
        if current is None:
            return json_response(
                404, {"error": {"code": "ResourceNotFound", "message": f"no resource {body['id']}"}}
            )
        current = merged(current, body.get("body") or {})
        if body.get("properties"):
            current["properties"] = merged(current.get("properties") or {}, body["properties"])
        if body.get("location"):
            current["location"] = str(body["location"])
        store.put(str(body["id"]), current)
    return json_response(200, current)
