"""Application Insights ingestion: `POST /v2.1/track` (and /v2/track), as the OpenTelemetry exporter
of azureml-inference-server-http posts it — a JSON array of envelopes, no auth (the key is in each).

Answers `{"itemsReceived","itemsAccepted","errors":[{"index","statusCode","message"}]}` (an empty 200
body would make the exporter drop the batch). Each row becomes visible to queries at its ingestion time:
arrival + `settings.ingestionDelay` + uniform(0, `settings.jitter`), so late arrival can be tested.
Also `POST /_emulator/telemetry/rows` (envelopes with a chosen ingestion time) and
`PUT /_emulator/telemetry/settings` (the same settings as `/_emulator/settings`, served by admin.py).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from amlmon.emulator.http import Request, Response, Router, json_response
from amlmon.emulator.resources import normalize_id
from amlmon.emulator.store import utcnow

if TYPE_CHECKING:
    from amlmon.emulator.state import EmulatorState

SEVERITY = {"verbose": 0, "information": 1, "warning": 2, "error": 3, "critical": 4}
_DURATION = re.compile(r"^(?:(?P<d>\d+)\.)?(?P<h>\d+):(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$")
TABLE_OF = {
    "RequestData": "AppRequests",
    "RemoteDependencyData": "AppDependencies",
    "ExceptionData": "AppExceptions",
    "MessageData": "AppTraces",
    "EventData": "AppEvents",
}


def register(router: Router, state: EmulatorState) -> None:
    for path in (r"/+v2\.1/track", r"/+v2/track"):
        router.add("POST", path, lambda r: _track(state, r))
    router.add("POST", r"/_emulator/telemetry/rows", lambda r: _rows(state, r))


def duration_ms(value: Any) -> float | None:
    """`00:00:00.123` / `1.02:03:04.5` (App Insights timespans) or a number of milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if not match:
        return None
    parts = match.groupdict()
    seconds = int(parts["d"] or 0) * 86400 + int(parts["h"]) * 3600 + int(parts["m"]) * 60 + float(parts["s"])
    return seconds * 1000.0


def parse_time(value: Any) -> dt.datetime:
    text = str(value or "").strip()
    try:
        # Fractions come with 1-7 digits; Python wants at most 6.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return utcnow()
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


_FRACTION = re.compile(r"\.(\d+)")
_NS_MIN, _NS_MAX = -(2**63) + 1, 2**63 - 1


def parse_time_ns(value: Any) -> int:
    """An envelope's `time` as nanoseconds since 1970 UTC, keeping 7 fractional digits (Kusto's
    100 ns ticks; Python's datetime keeps 6)."""
    text = str(value or "").strip()
    fraction = _FRACTION.search(text)
    whole = parse_time(_FRACTION.sub("", text, count=1) if fraction else text)
    ticks = int((fraction.group(1) + "0000000")[:7]) if fraction else 0
    nanos = (whole - dt.datetime(1970, 1, 1)) // dt.timedelta(seconds=1) * 1_000_000_000 + ticks * 100
    if not _NS_MIN <= nanos <= _NS_MAX:  # past what a nanosecond timestamp holds (1678-2262)
        return parse_time_ns(utcnow().isoformat())  # as parse_time treats a time it cannot read
    return nanos


def _severity(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isdigit() else SEVERITY.get(text.lower())


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


# Application Insights' documented per-item limits: longer values are cut at ingestion, not refused.
MESSAGE_LIMIT = 32_768  # trace and exception messages
PROPERTY_VALUE_LIMIT = 8_192  # each custom property value
PROPERTY_NAME_LIMIT = 150  # each custom property name


def _cut(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) and len(value) > limit else value


def _limited_properties(properties: Any) -> dict[str, Any]:
    if not isinstance(properties, dict):
        return {}
    return {
        _cut(str(name), PROPERTY_NAME_LIMIT): _cut(value, PROPERTY_VALUE_LIMIT)
        for name, value in properties.items()
    }


def component_for_key(state: EmulatorState, ikey: str) -> dict[str, Any] | None:
    wanted = ikey.lower()
    for component in state.resources.list(type="microsoft.insights/components"):
        if str(component.get("properties", {}).get("InstrumentationKey", "")).lower() == wanted:
            return component
    return None


def envelope_row(
    envelope: dict[str, Any], component: dict[str, Any], ingested: dt.datetime
) -> tuple[str, dict[str, Any]] | None:
    """(table, row) for one envelope; None for kinds the store does not keep (metrics)."""
    data = envelope.get("data") or {}
    table = TABLE_OF.get(str(data.get("baseType")))
    if table is None:
        return None
    base = data.get("baseData") or {}
    row = _common_columns(envelope, base, component, ingested)
    row.update(_kind_columns(table, base))
    return table, row


def _common_columns(
    envelope: dict[str, Any], base: dict[str, Any], component: dict[str, Any], ingested: dt.datetime
) -> dict[str, Any]:
    """The columns every App* table has: the envelope's time and tags, properties, key and resource."""
    tags = envelope.get("tags") or {}
    return {
        "TimeGenerated": parse_time_ns(envelope.get("time")),
        "OperationId": tags.get("ai.operation.id"),
        "OperationName": tags.get("ai.operation.name"),
        "ParentId": tags.get("ai.operation.parentId"),
        "SessionId": tags.get("ai.session.id"),
        "UserId": tags.get("ai.user.id"),
        "AppRoleName": tags.get("ai.cloud.role"),
        "AppRoleInstance": tags.get("ai.cloud.roleInstance"),
        "AppVersion": tags.get("ai.application.ver"),
        "ClientType": "PC",
        "SDKVersion": tags.get("ai.internal.sdkVersion"),
        "Properties": json.dumps(_limited_properties(base.get("properties"))),
        "Measurements": json.dumps(base.get("measurements") or {}),
        "ItemCount": int((envelope.get("sampleRate") and round(100 / float(envelope["sampleRate"]))) or 1),
        "IKey": str(envelope.get("iKey") or "").lower(),
        "_ResourceId": normalize_id(component["id"]),
        "_ItemId": str(uuid.uuid4()),
        "_IngestionTime": ingested,
    }


def _kind_columns(table: str, base: dict[str, Any]) -> dict[str, Any]:
    """The columns only `table` has, from the envelope's baseData."""
    if table in ("AppRequests", "AppDependencies"):
        return _call_columns(table, base)
    if table == "AppExceptions":
        return _exception_columns(base)
    if table == "AppTraces":
        return {
            "Message": _cut(base.get("message"), MESSAGE_LIMIT),
            "SeverityLevel": _severity(base.get("severityLevel")),
        }
    return {"Name": base.get("name")}


def _call_columns(table: str, base: dict[str, Any]) -> dict[str, Any]:
    """A request's or dependency's columns (RequestData / RemoteDependencyData)."""
    columns = {
        "Id": base.get("id"),
        "Name": base.get("name"),
        "Success": _bool(base.get("success")),
        "ResultCode": str(base.get("responseCode", base.get("resultCode", "")) or ""),
        "DurationMs": duration_ms(base.get("duration")),
    }
    if table == "AppRequests":
        columns.update({"Url": base.get("url"), "Source": base.get("source")})
    else:
        columns.update(
            {"Target": base.get("target"), "DependencyType": base.get("type"), "Data": base.get("data")}
        )
    return columns


def _exception_columns(base: dict[str, Any]) -> dict[str, Any]:
    """An ExceptionData's columns: the outermost and innermost of its exception chain, each message cut."""
    exceptions = [
        {**item, "message": _cut(item.get("message"), MESSAGE_LIMIT)} if isinstance(item, dict) else item
        for item in base.get("exceptions") or [{}]
    ]
    outer, inner = exceptions[0], exceptions[-1]
    return {
        "ProblemId": base.get("problemId") or outer.get("typeName"),
        "ExceptionType": outer.get("typeName"),
        "OuterType": outer.get("typeName"),
        "OuterMessage": outer.get("message"),
        "InnermostType": inner.get("typeName"),
        "InnermostMessage": inner.get("message"),
        "Message": outer.get("message"),
        "SeverityLevel": _severity(base.get("severityLevel")),
        "Details": json.dumps(exceptions),
    }


def ingest(
    state: EmulatorState, envelopes: list[Any], ingested_at: dt.datetime | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """Store envelopes; (accepted, per-item errors)."""
    delay = state.number("ingestionDelay", 0.0)
    jitter = state.number("jitter", 0.0)
    now = utcnow()
    tables: dict[str, list[dict[str, Any]]] = {}
    errors: list[dict[str, Any]] = []
    components: dict[str, dict[str, Any] | None] = {}
    accepted = 0
    for index, envelope in enumerate(envelopes):
        if not isinstance(envelope, dict) or not envelope.get("iKey"):
            errors.append(
                {
                    "index": index,
                    "statusCode": 400,
                    "message": "Field 'iKey' on type 'Envelope' is required but missing or empty.",
                }
            )
            continue
        ikey = str(envelope["iKey"])
        if ikey not in components:
            components[ikey] = component_for_key(state, ikey)
        component = components[ikey]
        if component is None:
            errors.append({"index": index, "statusCode": 400, "message": "Invalid instrumentation key"})
            continue
        ingested = ingested_at or now + dt.timedelta(seconds=delay + random.uniform(0, jitter))
        mapped = envelope_row(envelope, component, ingested)
        accepted += 1
        if mapped is not None:
            tables.setdefault(mapped[0], []).append(mapped[1])
    _remember_workspaces(state, components.values())
    store = state.telemetry
    for table, rows in tables.items():
        store.insert_rows(table, rows)
    return accepted, errors


def _remember_workspaces(state: EmulatorState, components: Iterable[dict[str, Any] | None]) -> None:
    """A workspace-based component's rows are ingested into its workspace now; they stay there if the
    component is relinked later (log_ledger.py)."""
    from amlmon.emulator import log_ledger

    for component in components:
        workspace = ((component or {}).get("properties") or {}).get("WorkspaceResourceId")
        if component and workspace:
            log_ledger.remember(state, str(component["id"]), [str(workspace)])


def _decode(request: Request) -> list[Any]:
    text = request.body.decode("utf-8").strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _track(state: EmulatorState, request: Request) -> Response:
    try:
        envelopes = _decode(request)
    except (ValueError, UnicodeDecodeError):
        return json_response(
            400,
            {
                "itemsReceived": 0,
                "itemsAccepted": 0,
                "errors": [{"index": 0, "statusCode": 400, "message": "Invalid JSON"}],
            },
        )
    from amlmon.emulator.ingestion_auth import refusal

    refused = refusal(state, request, envelopes)  # DisableLocalAuth: key-only batches get 401
    if refused is not None:
        return refused
    accepted, errors = ingest(state, envelopes)
    status = 200 if not errors else (206 if accepted else 400)
    return json_response(
        status, {"itemsReceived": len(envelopes), "itemsAccepted": accepted, "errors": errors}
    )


def _rows(state: EmulatorState, request: Request) -> Response:
    body = request.json() or {}
    envelopes = list(body.get("envelopes") or [])
    key = body.get("instrumentationKey")
    if key:
        envelopes = [{**e, "iKey": e.get("iKey") or key} for e in envelopes]
    ingested = parse_time(body["ingestedAt"]) if body.get("ingestedAt") else None
    accepted, errors = ingest(state, envelopes, ingested)
    return json_response(
        200 if not errors else 400,
        {"itemsReceived": len(envelopes), "itemsAccepted": accepted, "errors": errors},
    )
